import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { ChaosError } from '../../core/errors.ts';
import { type ImageRef, OFFICIAL_IMAGE_MISSING } from '../../core/provider.ts';
import { resolveImage } from './images.ts';

/** An engine that has these images, and whose registry answers for these (or for none). */
function engine(has: string[], pullable: string[] = []): Docker {
  return {
    getImage: (name: string) => ({
      inspect: async () => {
        if (!has.includes(name)) throw new Error(`no such image: ${name}`);
        return {};
      },
    }),
    pull: async (name: string) => {
      if (!pullable.includes(name)) throw new Error('dial tcp: lookup registry-1.docker.io: no such host');
      return {};
    },
    modem: { followProgress: (_s: unknown, done: (err: Error | null) => void) => done(null) },
  } as unknown as Docker;
}

const MONGO: ImageRef = {
  name: 'mongo',
  env: 'CHAOS_IMAGE_TEST_MONGO',
  official: 'mongo:7',
  officialOnly: 'mongod is in no Debian package',
};
const REDIS: ImageRef = {
  name: 'redis',
  env: 'CHAOS_IMAGE_TEST_REDIS',
  official: 'redis:7',
  offline: 'chaos-local/redis:7',
};

describe('an official-only image (no offline build)', () => {
  it('is used where the engine has it, or where it can be pulled', async () => {
    expect(await resolveImage(engine(['mongo:7']), MONGO)).toEqual({ image: 'mongo:7', source: 'official' });
    expect(await resolveImage(engine([], ['mongo:7']), MONGO)).toEqual({
      image: 'mongo:7',
      source: 'official',
    });
  });

  it('missing and not pullable: one line saying there is no offline build, and the fix', async () => {
    const err = await resolveImage(engine(['chaos-local/redis:7']), MONGO).catch((e) => e);
    expect(err).toBeInstanceOf(ChaosError);
    expect(err.code).toBe(OFFICIAL_IMAGE_MISSING);
    expect(err.oneLine()).toBe(
      'error[OFFICIAL_IMAGE_MISSING]: mongo:7 is not on this Docker engine and cannot be pulled; it has no offline build (mongod is in no Debian package) (docker pull mongo:7 where a registry answers, or set CHAOS_IMAGE_TEST_MONGO to an image this engine has)',
    );
    expect(err.oneLine()).not.toContain('\n');
  });

  it('the environment variable names the image to use instead', async () => {
    process.env.CHAOS_IMAGE_TEST_MONGO = 'my/mongod:7.0.14';
    try {
      expect(await resolveImage(engine(['my/mongod:7.0.14']), MONGO)).toEqual({
        image: 'my/mongod:7.0.14',
        source: 'environment',
      });
      const err = await resolveImage(engine([]), MONGO).catch((e) => e);
      expect(err.code).toBe('IMAGE_NOT_FOUND');
      expect(err.hint).toBe('fix CHAOS_IMAGE_TEST_MONGO, or unset it to use mongo:7 (docker pull mongo:7)');
    } finally {
      Reflect.deleteProperty(process.env, 'CHAOS_IMAGE_TEST_MONGO');
    }
  });
});

describe('an image with an offline build', () => {
  it('falls back to the offline build, and says how to build it when neither is here', async () => {
    expect(await resolveImage(engine(['chaos-local/redis:7']), REDIS)).toEqual({
      image: 'chaos-local/redis:7',
      source: 'offline-build',
    });
    const err = await resolveImage(engine([]), REDIS).catch((e) => e);
    expect(err.code).toBe('IMAGE_NOT_FOUND');
    expect(err.hint).toMatch(/docker\/build-images\.sh/);
  });
});
