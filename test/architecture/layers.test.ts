/**
 * The layers hold in the real import graph: machines/ (the call core) imports only machines/ and xstate,
 * src/ (the server) nothing from tools/, test/, bench/ or scripts/, and so on (test/architecture/layer-rules.ts
 * has the table). The checker itself is shown to fail on a broken graph, so a green run means something.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type ImportGraph, importSpecifiers, readImportGraph, resolveImport } from "./import-graph.js";
import { LAYERS, layerViolations, unusedAllowances } from "./layer-rules.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

describe("the repository's layers", () => {
  const graph = readImportGraph(ROOT, LAYERS);

  it("are all read, with their imports", () => {
    for (const layer of LAYERS) {
      expect(
        graph.imports.some((edge) => edge.from.startsWith(`${layer}/`)),
        layer,
      ).toBe(true);
    }
    // A dynamic import is seen (the adapters load their native SDKs lazily).
    expect(graph.imports).toContainEqual({ from: "src/engines/kokoro-tts.ts", specifier: "kokoro-js" });
  });

  it("import only what their layer may", () => {
    expect(layerViolations(graph)).toEqual([]);
  });

  it("need every exception they allow", () => {
    expect(unusedAllowances(graph)).toEqual([]);
  });
});

describe("the layer check", () => {
  it("sees static, type-only, side-effect, re-exporting and dynamic imports", () => {
    const source = [
      'import { a } from "./a.js";',
      'import type { B } from "../b.js";',
      'import "./side-effect.js";',
      'export { c } from "./c.js";',
      'export * from "./d.js";',
      "const e = async () => await import('./e.js');",
      "// import { f } from './commented-out.js';",
      "const text = \"import { g } from './in-a-string.js'\";",
    ].join("\n");
    expect(importSpecifiers(source)).toEqual([
      "./a.js",
      "../b.js",
      "./side-effect.js",
      "./c.js",
      "./d.js",
      "./e.js",
    ]);
  });

  it("resolves a relative specifier to the .ts file it names, and names packages and built-ins", () => {
    const files = new Set(["src/engines/x.ts", "machines/engines.ts"]);
    const from = "src/engines/x.ts";
    expect(resolveImport({ from, specifier: "../../machines/engines.js" }, files)).toEqual({
      kind: "file",
      path: "machines/engines.ts",
    });
    expect(resolveImport({ from, specifier: "./missing.js" }, files)).toEqual({
      kind: "file",
      path: "src/engines/missing.js",
    });
    expect(resolveImport({ from, specifier: "@deepgram/sdk/listen" }, files)).toEqual({
      kind: "package",
      name: "@deepgram/sdk",
    });
    expect(resolveImport({ from, specifier: "xstate/actors" }, files)).toEqual({
      kind: "package",
      name: "xstate",
    });
    expect(resolveImport({ from, specifier: "node:fs" }, files)).toEqual({
      kind: "builtin",
      name: "node:fs",
    });
  });

  it("fails a graph that breaks each rule, naming the file, the import and the rule", () => {
    const broken: ImportGraph = {
      files: [
        "machines/x.ts",
        "machines/engines.ts",
        "src/y.ts",
        "src/main.ts",
        "src/engines/z.ts",
        "src/routes/calls.ts",
        "src/twilio/rest.ts",
        "tools/caller/index.ts",
        "scripts/s.ts",
        "bench/b.ts",
        "test/fakes/fake-deepgram.ts",
        "test/support/test-server.ts",
      ],
      imports: [
        { from: "machines/x.ts", specifier: "./engines.js" },
        { from: "machines/x.ts", specifier: "xstate" },
        { from: "machines/x.ts", specifier: "../src/y.js" },
        { from: "machines/x.ts", specifier: "../tools/caller/index.js" },
        { from: "machines/x.ts", specifier: "zod" },
        { from: "machines/x.ts", specifier: "node:fs" },
        { from: "machines/x.ts", specifier: "../package.json" },
        { from: "src/y.ts", specifier: "../tools/caller/index.js" },
        { from: "src/y.ts", specifier: "../test/support/test-server.js" },
        { from: "src/y.ts", specifier: "../scripts/s.js" },
        { from: "src/y.ts", specifier: "./main.js" },
        { from: "src/engines/z.ts", specifier: "../routes/calls.js" },
        { from: "src/engines/z.ts", specifier: "../twilio/rest.js" },
        { from: "tools/caller/index.ts", specifier: "../../test/fakes/fake-deepgram.js" },
        { from: "scripts/s.ts", specifier: "../test/fakes/fake-deepgram.js" },
        { from: "scripts/s.ts", specifier: "../bench/b.js" },
        { from: "bench/b.ts", specifier: "../test/support/test-server.js" },
        { from: "bench/b.ts", specifier: "../scripts/s.js" },
      ],
    };
    const see = "(see ARCHITECTURE.md)";
    expect(layerViolations(broken)).toEqual([
      `machines/x.ts imports src/y.ts: the call core imports nothing from src/ ${see}`,
      `machines/x.ts imports tools/caller/index.ts: the call core imports nothing from tools/ ${see}`,
      `machines/x.ts imports zod: the call core imports no npm package but xstate ${see}`,
      `machines/x.ts imports node:fs: the call core imports no Node built-in ${see}`,
      `machines/x.ts imports package.json: the call core imports nothing from package.json ${see}`,
      `src/y.ts imports tools/caller/index.ts: the server imports nothing from tools/ ${see}`,
      `src/y.ts imports test/support/test-server.ts: the server imports nothing from test/ ${see}`,
      `src/y.ts imports scripts/s.ts: the server imports nothing from scripts/ ${see}`,
      `src/y.ts imports src/main.ts: nothing in src/ imports the entry point src/main.ts ${see}`,
      `src/engines/z.ts imports src/routes/calls.ts: an engine adapter imports nothing from src/routes/ ${see}`,
      `src/engines/z.ts imports src/twilio/rest.ts: an engine adapter imports nothing from src/twilio/ ${see}`,
      `tools/caller/index.ts imports test/fakes/fake-deepgram.ts: the simulated caller imports nothing from test/ ${see}`,
      `scripts/s.ts imports test/fakes/fake-deepgram.ts: a script imports nothing from test/ ${see}`,
      `scripts/s.ts imports bench/b.ts: a script imports nothing from bench/ ${see}`,
      `bench/b.ts imports test/support/test-server.ts: a benchmark imports nothing from test/ ${see}`,
      `bench/b.ts imports scripts/s.ts: a benchmark imports nothing from scripts/ ${see}`,
    ]);
  });

  it("lets the allowed imports from test/ through, and only those", () => {
    const graph: ImportGraph = {
      files: ["scripts/dev-fakes.ts", "bench/b.ts", "test/fakes/fake-deepgram.ts", "test/e2e/voice-stack.ts"],
      imports: [
        { from: "scripts/dev-fakes.ts", specifier: "../test/fakes/fake-deepgram.js" },
        { from: "bench/b.ts", specifier: "../test/fakes/fake-deepgram.js" },
        { from: "scripts/dev-fakes.ts", specifier: "../test/e2e/voice-stack.js" },
      ],
    };
    expect(layerViolations(graph)).toEqual([
      "scripts/dev-fakes.ts imports test/e2e/voice-stack.ts: a script imports nothing from test/ (see ARCHITECTURE.md)",
    ]);
    expect(unusedAllowances(graph)).toEqual(["scripts/record-fixture-tapes.ts -> test/e2e/"]);
  });
});
