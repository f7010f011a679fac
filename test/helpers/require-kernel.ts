// Skips for a missing kernel feature, root or tool, unless MAPLB_REQUIRE_KERNEL=1 (CI sets it in
// .ci/run): then the missing piece is a failure, so a CI machine that lost BPF, root or a package
// cannot pass by skipping everything that touches the kernel.
import { test, type TestContext } from "node:test";

export const REQUIRE_KERNEL = process.env.MAPLB_REQUIRE_KERNEL === "1";

/**
 * The `skip` option of a test that needs what `reason` says is missing (null: nothing is). With
 * MAPLB_REQUIRE_KERNEL=1 the test is still skipped, and a test named after it fails with the reason.
 */
export function kernelSkip(reason: string | null | false | undefined, what = "this test"): string | false {
  if (!reason) return false;
  if (REQUIRE_KERNEL)
    test(`MAPLB_REQUIRE_KERNEL=1, but ${what} cannot run`, () => {
      throw new Error(`${what} needs ${reason}`);
    });
  return reason;
}

/** Inside a running test: t.skip(reason), or a failure under MAPLB_REQUIRE_KERNEL=1. */
export function skipOrFail(t: TestContext, reason: string): void {
  if (REQUIRE_KERNEL) throw new Error(`MAPLB_REQUIRE_KERNEL=1, but this test needs ${reason}`);
  t.skip(reason);
}
