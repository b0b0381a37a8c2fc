import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    reporters: ["default", "./test/support/summary-reporter.ts"],
    // Two cores on CI: keep parallelism modest so socket tests never starve each other.
    maxWorkers: 2,
    testTimeout: 15_000,
    hookTimeout: 20_000,
  },
});
