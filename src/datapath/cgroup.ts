// cgroup v2 directories for the socket-LB hooks: where cgroup2 is mounted (hybrid systems mount it
// beside v1, e.g. /sys/fs/cgroup/unified), a private mount when there is none, and checks that a
// path names a cgroup v2 directory that is not the root (hooks there would translate every socket
// of the machine).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { MaplbError } from "../errors.js";
import { cgroupMounts, fileReader } from "./map-budget.js";

/** The first cgroup2 mount point of this process's mount namespace, or null. */
export function cgroup2Mount(): string | null {
  return cgroupMounts(fileReader()).v2 ?? null;
}

/** A cgroup2 hierarchy: the system's, or one mounted privately in a temp dir (release() unmounts it). */
export interface Cgroup2Root {
  path: string;
  release(): void;
}

export function openCgroup2Root(): Cgroup2Root {
  const mounted = cgroup2Mount();
  if (mounted) return { path: mounted, release: () => {} };
  const dir = mkdtempSync(join(tmpdir(), "maplb-cgroup2-"));
  const r = spawnSync("mount", ["-t", "cgroup2", "none", dir], { encoding: "utf8" });
  if (r.status !== 0) {
    rmdirSync(dir);
    throw new MaplbError("E_EXEC", `no cgroup2 mount, and mounting one failed: ${r.stderr.trim()}`);
  }
  return {
    path: dir,
    release: () => {
      spawnSync("umount", [dir]);
      rmdirSync(dir);
    },
  };
}

/**
 * The absolute path of a cgroup v2 directory to attach to, checked: it exists, it is on a cgroup2
 * mount (it has cgroup.procs and cgroup.controllers), and it is not the root of the cgroup2 mount.
 */
export function checkCgroupDir(path: string): string {
  const quoted = JSON.stringify(path);
  if (path.length === 0 || path.length > 4096)
    throw new MaplbError("E_USAGE", `cgroup path ${quoted} is empty or too long`);
  const dir = resolve(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new MaplbError("E_USAGE", `cgroup ${quoted} is not a directory`);
  if (!existsSync(join(dir, "cgroup.controllers")))
    throw new MaplbError(
      "E_USAGE",
      `${quoted} is not a cgroup v2 directory (no cgroup.controllers; cgroup2 is mounted at ${JSON.stringify(cgroup2Mount())})`,
    );
  if (dir === cgroup2Mount())
    throw new MaplbError(
      "E_USAGE",
      `${quoted} is the root of a cgroup2 hierarchy: socket LB attaches to a child cgroup (one that holds the pods' processes), never to the root`,
    );
  return dir;
}
