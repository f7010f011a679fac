// deploy/Dockerfile without a Docker engine (there is none on these machines): the test reads the
// Dockerfile, lays out its runtime stage in a temporary directory the way the COPY lines say (with
// node_modules pruned to production packages, as `npm prune --omit=dev` leaves them), and runs the
// image's entrypoint from there: --version, and the default command (the agent) against the fake API
// server until it is healthy. It also checks that the runtime stage's apt packages provide every
// library libmaplb.so links. What it cannot check is the base images and apt-get inside them.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { healthy, startAgent, terminate, webApiServer } from "./helpers/agent-process.js";
import { kernelSkip } from "./helpers/require-kernel.js";

const ROOT = new URL("../../", import.meta.url).pathname;

interface Stage {
  from: string;
  workdir: string;
  /** Each RUN, COPY, ENTRYPOINT, … instruction: [keyword, rest], continuation lines joined. */
  instructions: [string, string][];
}

/** The Dockerfile's stages, in order. Enough of the syntax for this Dockerfile, and no more. */
function stages(text: string): Stage[] {
  const out: Stage[] = [];
  const logical = text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  for (const line of logical) {
    const [keyword, ...rest] = line.split(/\s+/);
    const arg = rest.join(" ");
    if (keyword === "FROM") out.push({ from: arg, workdir: "/", instructions: [] });
    else {
      const stage = out.at(-1)!;
      if (keyword === "WORKDIR") stage.workdir = arg;
      stage.instructions.push([keyword!, arg]);
    }
  }
  return out;
}

const dockerfile = stages(readFileSync(join(ROOT, "deploy/Dockerfile"), "utf8"));
const [build, runtime] = [dockerfile[0]!, dockerfile.at(-1)!];
const json = (keyword: string) =>
  JSON.parse(runtime.instructions.find(([k]) => k === keyword)![1]) as string[];

/** Top-level packages `npm prune --omit=dev` keeps: the lockfile's entries not marked dev. */
function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
    packages: Record<string, { dev?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([path, p]) => path.startsWith("node_modules/") && !p.dev)
    .map(([path]) => path)
    .filter((path) => !path.slice("node_modules/".length).includes("/node_modules/"))
    .filter((path) => existsSync(join(ROOT, path))); // optional packages for other platforms are absent
}

describe("deploy/Dockerfile, laid out without Docker", () => {
  const image = mkdtempSync(join(tmpdir(), "maplb-image-"));
  /** The runtime stage's WORKDIR, inside `image`. */
  const inImage = (path: string) => join(image, path.replace(/^\/opt\/maplb\/?/, ""));
  const server = webApiServer();
  after(() => rmSync(image, { recursive: true, force: true }));

  it("the build stage names files the repository has", () => {
    const runs = build.instructions.filter(([k]) => k === "RUN").map(([, arg]) => arg);
    const named = runs.join(" ").match(/[\w./-]+\.(?:mjs|json)\b/g) ?? [];
    assert.ok(named.length >= 2, `RUN lines name the build's files: ${runs.join(" | ")}`);
    for (const file of named) assert.ok(existsSync(join(ROOT, file)), `${file} exists`);
  });

  it("the runtime stage's COPY lines find what the build produced, and lay out an image", () => {
    assert.equal(runtime.workdir, "/opt/maplb");
    const copies = runtime.instructions.filter(([k]) => k === "COPY").map(([, arg]) => arg.split(/\s+/));
    assert.ok(copies.length > 0);
    for (const [from, src, dest] of copies) {
      assert.equal(from, "--from=build", `${src}: copied from the build stage`);
      const path = src!.replace(new RegExp(`^${build.workdir}/?`), "");
      const target = inImage(join(runtime.workdir, dest!));
      if (path === "node_modules") {
        for (const pkg of productionPackages())
          cpSync(join(ROOT, pkg), join(target, pkg.slice(13)), { recursive: true });
        continue;
      }
      assert.ok(existsSync(join(ROOT, path)), `${path} exists after the build`);
      // As in Docker, a destination ending in / is a directory the source goes into.
      const to = dest!.endsWith("/") ? join(target, basename(path)) : target;
      mkdirSync(dirname(to), { recursive: true });
      cpSync(join(ROOT, path), to, { recursive: true });
    }
    const entry = json("ENTRYPOINT");
    assert.equal(entry[0], "node");
    assert.ok(existsSync(inImage(entry[1]!)), `the entrypoint ${entry[1]} is in the image`);
  });

  it("its entrypoint prints the version with production packages only", () => {
    const entry = json("ENTRYPOINT");
    const r = spawnSync(process.execPath, [inImage(entry[1]!), "--version"], {
      encoding: "utf8",
      cwd: image,
    });
    assert.equal(r.status, 0, r.stderr);
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    assert.equal(r.stdout.trim(), pkg.version);
  });

  it("its default command (the agent) follows the API server until healthy, and stops on SIGTERM", async () => {
    const [cmd] = json("CMD");
    assert.equal(cmd, "agent");
    const dir = mkdtempSync(join(tmpdir(), "maplb-image-kube-"));
    try {
      const args = ["--kubeconfig", server.writeKubeconfig(dir), "--datapath", "emulated"];
      const agent = await startAgent([...args, "--metrics-addr", "127.0.0.1:0"], {
        bin: inImage(json("ENTRYPOINT")[1]!),
      });
      await healthy(agent);
      assert.equal(await terminate(agent), 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const noDpkg =
    spawnSync("dpkg", ["--version"]).status === 0
      ? false
      : "needs dpkg: the image is Debian, and dpkg tells which package installed a library";
  it(
    "its apt packages provide every library libmaplb.so links (besides libc, in the base image)",
    {
      skip: kernelSkip(noDpkg),
    },
    () => {
      const install = runtime.instructions.find(([k, arg]) => k === "RUN" && arg.includes("apt-get install"));
      const packages = install![1]
        .split("apt-get install")[1]!
        .split("&&")[0]!
        .split(/\s+/)
        .filter((w) => w !== "" && !w.startsWith("-"));
      const ldd = spawnSync("ldd", [join(ROOT, "native/build/libmaplb.so")], { encoding: "utf8" });
      assert.equal(ldd.status, 0, ldd.stderr);
      const libs = [...ldd.stdout.matchAll(/=> (\S+)/g)].map((m) => m[1]!);
      for (const lib of libs) {
        // With merged /usr, ldd may say /lib/… where dpkg recorded /usr/lib/…, or the other way round.
        const pkg = [lib, `/usr${lib}`, lib.replace(/^\/usr/, "")]
          .map((path) => spawnSync("dpkg", ["-S", path], { encoding: "utf8" }))
          .find((r) => r.status === 0)
          ?.stdout.split(":")[0]!
          .trim();
        assert.ok(pkg, `dpkg knows which package installed ${lib}`);
        if (pkg === "libc6") continue;
        assert.ok(
          packages.includes(pkg),
          `${lib} comes from ${pkg}, which the runtime stage does not install`,
        );
      }
    },
  );
});
