/**
 * Just enough of onnx.proto to write a tiny ONNX graph by hand (field numbers from onnx.proto): the test
 * stand-ins for real models (tiny-kokoro-model.ts, tiny-piper-voice.ts) are built with it, so the tests need
 * no ONNX or protobuf dependency.
 */

/** TensorProto.DataType */
export const FLOAT = 1;
export const INT64 = 7;
/** AttributeProto.AttributeType */
export const ATTRIBUTE_INT = 2;

/** A NodeProto with its output named after itself and integer attributes only. */
export function writeNode(
  graph: ProtoWriter,
  op: string,
  inputs: readonly string[],
  output: string,
  intAttributes: Record<string, number> = {},
): void {
  graph.message(1, (node) => {
    for (const input of inputs) node.string(1, input);
    node.string(2, output);
    node.string(3, output);
    node.string(4, op);
    for (const [name, value] of Object.entries(intAttributes)) {
      node.message(5, (attribute) => {
        attribute.string(1, name);
        attribute.varint(3, value);
        attribute.varint(20, ATTRIBUTE_INT);
      });
    }
  });
}

export function writeInitializer(
  graph: ProtoWriter,
  name: string,
  type: number,
  dims: number[],
  raw: Uint8Array,
): void {
  graph.message(5, (tensor) => {
    for (const dim of dims) tensor.varint(1, dim);
    tensor.varint(2, type);
    tensor.string(8, name);
    tensor.bytes(9, raw);
  });
}

export function writeValueInfo(
  graph: ProtoWriter,
  field: 11 | 12,
  name: string,
  type: number,
  shape: Array<number | string>,
): void {
  graph.message(field, (info) => {
    info.string(1, name);
    info.message(2, (typeProto) =>
      typeProto.message(1, (tensorType) => {
        tensorType.varint(1, type);
        tensorType.message(2, (shapeProto) => {
          for (const dim of shape) {
            shapeProto.message(1, (d) => (typeof dim === "number" ? d.varint(1, dim) : d.string(2, dim)));
          }
        });
      }),
    );
  });
}

export function floatBytes(values: ArrayLike<number>): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

export function int64Bytes(values: number[]): Uint8Array {
  return new Uint8Array(BigInt64Array.from(values, BigInt).buffer);
}

/** Just enough protobuf: varint and length-delimited fields, which is all ModelProto needs here. */
export class ProtoWriter {
  private readonly out: number[] = [];

  varint(field: number, value: number): void {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`varint must be a safe non-negative integer: ${value}`);
    this.tag(field, 0);
    this.raw(value);
  }

  string(field: number, value: string): void {
    this.bytes(field, new TextEncoder().encode(value));
  }

  bytes(field: number, value: Uint8Array): void {
    this.tag(field, 2);
    this.raw(value.length);
    for (const byte of value) this.out.push(byte);
  }

  message(field: number, build: (writer: ProtoWriter) => void): void {
    const inner = new ProtoWriter();
    build(inner);
    this.bytes(field, inner.finish());
  }

  append(other: ProtoWriter): void {
    for (const byte of other.out) this.out.push(byte);
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.out);
  }

  private tag(field: number, wireType: number): void {
    this.raw(field * 8 + wireType);
  }

  /** Base-128 varint; arithmetic rather than bit ops so values above 2^31 stay correct. */
  private raw(value: number): void {
    let rest = value;
    while (rest >= 0x80) {
      this.out.push((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    this.out.push(rest);
  }
}
