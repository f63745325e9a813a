// The ONNX graph under construction: nodes, initializers (each written once by
// name) and the attribute and tensor encodings of onnx-proto.
import onnxProto from 'onnx-proto';
import { bytesOf } from '../../util/bytes.js';
import type { Act } from '../network.js';

export const { onnx } = onnxProto as unknown as typeof import('onnx-proto');
export type INodeProto = import('onnx-proto').onnx.INodeProto;
export type ITensorProto = import('onnx-proto').onnx.ITensorProto;
export type IAttributeProto = import('onnx-proto').onnx.IAttributeProto;

export const attr = {
  ints: (name: string, ints: number[]): IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints }),
  int: (name: string, i: number): IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i }),
  string: (name: string, value: string): IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(value) }),
};

function floatTensor(name: string, shape: number[], data: Float32Array): ITensorProto {
  return { name, dims: shape, dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytesOf(data) };
}

function int64Tensor(name: string, values: number[]): ITensorProto {
  return { name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: bytesOf(BigInt64Array.from(values, BigInt)) };
}

export class GraphBuilder {
  readonly nodes: INodeProto[] = [];
  readonly initializers: ITensorProto[] = [];
  private readonly named = new Set<string>();

  node(opType: string, name: string, input: string[], attribute: IAttributeProto[] = [], output = name): string {
    this.nodes.push({ opType, name, input, output: [output], attribute });
    return output;
  }

  float(name: string, shape: number[], data: Float32Array): string {
    if (!this.named.has(name)) this.initializers.push(floatTensor(name, shape, data));
    this.named.add(name);
    return name;
  }

  /** An initializer of any element type from its little-endian bytes. */
  typed(name: string, dims: number[], dataType: number, data: ArrayBufferView): string {
    if (!this.named.has(name)) this.initializers.push({ name, dims, dataType, rawData: bytesOf(data) });
    this.named.add(name);
    return name;
  }

  int64(name: string, values: number[]): string {
    if (!this.named.has(name)) this.initializers.push(int64Tensor(name, values));
    this.named.add(name);
    return name;
  }

  activate(x: string, act: Act): string {
    if (act === 'relu') return this.node('Relu', `${x}/relu`, [x]);
    if (act === 'relu6') {
      const lo = this.float('edgetune/clip/min', [], Float32Array.of(0));
      const hi = this.float('edgetune/clip/max', [], Float32Array.of(6));
      return this.node('Clip', `${x}/relu6`, [x, lo, hi]);
    }
    return x;
  }
}

