/**
 * Adds one plain closing line, "N passed, N failed, N skipped", after Vitest's own summary, so any tool that
 * reads test logs (CI dashboards included) can count the tests without knowing Vitest's format.
 */
import type { Reporter, TestModule } from "vitest/node";

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const count = (state: "passed" | "failed" | "skipped") =>
      testModules.reduce((sum, module) => sum + [...module.children.allTests(state)].length, 0);
    // A file that failed to load has no failed test to count; one whose tests failed is counted by them.
    const failedModules = testModules.filter(
      (module) => module.state() === "failed" && [...module.children.allTests("failed")].length === 0,
    ).length;
    process.stdout.write(
      `\ntests: ${count("passed")} passed, ${count("failed") + failedModules} failed, ${count("skipped")} skipped\n`,
    );
  }
}
