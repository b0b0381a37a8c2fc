/**
 * The package's root directory (where package.json is), the same whether the code runs from its sources
 * (`src/...`, under tsx) or built (`dist/src/...`, under `npm start`): found by looking upwards from this
 * file rather than by counting `..`, which differs between the two.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findPackageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${here}`);
  }
}

export const PACKAGE_ROOT = findPackageRoot();
