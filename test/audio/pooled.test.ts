import { describe, expect, it } from "vitest";
import { pooledInt16, pooledUint8 } from "../../src/audio/pooled.js";

describe("pooled result arrays", () => {
  it("are plain typed arrays of the requested length that never overlap", () => {
    const bytes = Array.from({ length: 100 }, (_, i) => pooledUint8(160 + (i % 3)));
    const samples = Array.from({ length: 100 }, () => pooledInt16(320));
    for (const array of [...bytes, ...samples])
      expect(Object.getPrototypeOf(array)).not.toBe(Buffer.prototype);
    bytes.forEach((array, i) => {
      expect(array.length).toBe(160 + (i % 3));
      array.fill(i);
    });
    for (const [i, array] of samples.entries()) array.fill(-i);
    for (const [i, array] of bytes.entries()) expect(array.every((value) => value === i)).toBe(true);
    for (const [i, array] of samples.entries()) expect(array.every((value) => value === -i)).toBe(true);
  });

  it("copies on slice(), unlike a Buffer", () => {
    const array = pooledUint8(4).fill(1);
    const copy = array.slice();
    copy[0] = 9;
    expect(array[0]).toBe(1);
  });

  it("serves large requests too", () => {
    expect(pooledInt16(100_000).length).toBe(100_000);
    expect(pooledUint8(100_000).length).toBe(100_000);
  });
});
