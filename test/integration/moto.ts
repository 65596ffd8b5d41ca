import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * What every test against moto (the AWS API emulator, `moto_server` on 127.0.0.1) shares: whether
 * it is installed, the skip line when it is not, and a free port to start it on.
 */
function onPath(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const haveMoto = onPath('moto_server');
export const motoSkip = haveMoto
  ? ''
  : " (skipped: moto_server is not on PATH; pip install 'moto[server]>=5.2.3')";

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => done(port));
    });
  });
}

const MOTO_ENV = ['AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION'] as const;

/**
 * A moto_server of the test's own on a free port, and the SDK's environment pointed at it (test
 * credentials, `region`): `stop()` puts the environment back and stops the server (SIGTERM, then
 * SIGKILL after 2 s). Throws with the end of moto's output if it does not answer within 30 s.
 */
export async function startMoto(region: string): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const port = await freePort();
  const moto: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  moto.stdout?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  moto.stderr?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  const stopServer = async () => {
    if (moto.exitCode !== null) return;
    const exited = new Promise((r) => moto.once('exit', r));
    moto.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    if (moto.exitCode === null) moto.kill('SIGKILL');
  };
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await fetch(`${endpoint}/moto-api/`);
      break;
    } catch {
      if (Date.now() > deadline || moto.exitCode !== null) {
        await stopServer();
        throw new Error(`moto_server did not answer on ${endpoint}: ${log.slice(-500)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const saved = Object.fromEntries(MOTO_ENV.map((k) => [k, process.env[k]]));
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: region,
  });
  return {
    endpoint,
    async stop() {
      for (const k of MOTO_ENV) {
        if (saved[k] === undefined) Reflect.deleteProperty(process.env, k);
        else process.env[k] = saved[k];
      }
      await stopServer();
    },
  };
}
