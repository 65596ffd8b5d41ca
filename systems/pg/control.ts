import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The files through which a Postgres node's promotion agent tells its supervisor (node.sh) what
 * to do. The agent is the only one who writes `role`; the supervisor only reads it, so a role the
 * agent gave is never lost to a race between the two (the supervisor once removed `role` when it
 * saw `fence`, which also removed a role the agent had written just before: the node then waited
 * for a role the agent believed it had given, and never came back).
 *
 * - `role`: `primary`, or `standby HOST [rewind]`, written atomically (a rename). Read again while
 *   the supervisor waits for the server it is to follow: when it names another, or none, the
 *   supervisor starts over from it instead of waiting for a server that died first.
 * - `restart`: stop the running server and come back in the role above (written after the role;
 *   one written while the supervisor waits for a role is the start it then makes).
 * - `needs-clone` (written by the supervisor): a re-clone or a rewind is under way or was cut
 *   off; the agent then never takes the lease.
 * - `lease-until`: a wall-clock ms, after each renewal, written atomically: half the lease
 *   margin after the agent's own deadline. The supervisor's dead-man switch: a primary still
 *   running at that time has an agent that neither renewed nor fenced it (gone or stuck), and
 *   the supervisor stops it itself.
 * - `fence`: stop the server at once and wait for a role. The role in force until then is
 *   removed first, by the agent, so that the supervisor waits for the agent's next word. A
 *   server still starting (crash recovery) is stopped before it accepts a connection.
 */
export class ControlFiles {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  setRole(role: string, restart: boolean): void {
    const tmp = join(this.dir, 'role.tmp');
    writeFileSync(tmp, `${role}\n`);
    renameSync(tmp, join(this.dir, 'role'));
    if (restart) writeFileSync(join(this.dir, 'restart'), `${role}\n`);
  }

  /** Arms the supervisor's dead-man switch at `deadline` (wall-clock ms): `lease-until`. */
  leaseUntil(deadline: number): void {
    const tmp = join(this.dir, 'lease-until.tmp');
    writeFileSync(tmp, `${Math.floor(deadline)}\n`);
    renameSync(tmp, join(this.dir, 'lease-until'));
  }

  /** Whether the supervisor marked the data directory unfit to start (`needs-clone`). */
  needsClone(): boolean {
    return existsSync(join(this.dir, 'needs-clone'));
  }

  /** Withdraws the role, then asks for the immediate stop (the supervisor polls every 100 ms). */
  fence(at: number): void {
    rmSync(join(this.dir, 'role'), { force: true });
    writeFileSync(join(this.dir, 'fence'), `${at}\n`);
  }
}
