import { execFileSync } from 'node:child_process';
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
