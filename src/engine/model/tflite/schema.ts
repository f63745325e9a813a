// The part of the TFLite schema (tensorflow/lite/schema/schema.fbs, version 3,
// file identifier "TFL3") that edgetune writes: enum values and the vtable slot
// of each field, in the schema's declaration order (a union takes two slots:
// its type, then its value). Nothing here reads models.

export const SCHEMA_VERSION = 3;
export const FILE_IDENTIFIER = 'TFL3';

/** enum TensorType : byte */
export const TensorType = { FLOAT32: 0, INT32: 2, UINT8: 3, INT64: 4, INT8: 9 } as const;
export type TensorTypeId = (typeof TensorType)[keyof typeof TensorType];

/** enum BuiltinOperator : int32 (the operators MobileNetV2 and a dense head need). */
export const Builtin = {
  ADD: 0,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  FULLY_CONNECTED: 9,
  MUL: 18,
  RELU: 19,
  RELU6: 21,
  SOFTMAX: 25,
  PAD: 34,
  MEAN: 40,
  SUB: 41,
  QUANTIZE: 114,
} as const;

/** union BuiltinOptions: 1-based position of each options table (0 is NONE). */
export const OptionsType = {
  NONE: 0,
  Conv2DOptions: 1,
  DepthwiseConv2DOptions: 2,
  FullyConnectedOptions: 8,
  SoftmaxOptions: 9,
  AddOptions: 11,
  MulOptions: 21,
  PadOptions: 22,
  ReducerOptions: 27,
  SubOptions: 28,
} as const;

export const Padding = { SAME: 0, VALID: 1 } as const;
export const Activation = { NONE: 0, RELU: 1, RELU6: 3 } as const;

/** Field slots per table. */
export const F = {
  Model: { version: 0, operator_codes: 1, subgraphs: 2, description: 3, buffers: 4, metadata: 6, signature_defs: 7, count: 8 },
  SubGraph: { tensors: 0, inputs: 1, outputs: 2, operators: 3, name: 4, count: 5 },
  Tensor: { shape: 0, type: 1, buffer: 2, name: 3, quantization: 4, shape_signature: 7, has_rank: 8, count: 9 },
  QuantizationParameters: { scale: 2, zero_point: 3, quantized_dimension: 6, count: 7 },
  Buffer: { data: 0, count: 3 },
  OperatorCode: { deprecated_builtin_code: 0, version: 2, builtin_code: 3, count: 4 },
  Operator: { opcode_index: 0, inputs: 1, outputs: 2, builtin_options_type: 3, builtin_options: 4, count: 9 },
  Metadata: { name: 0, buffer: 1, count: 2 },
  TensorMap: { name: 0, tensor_index: 1, count: 2 },
  SignatureDef: { inputs: 0, outputs: 1, signature_key: 2, subgraph_index: 4, count: 5 },
  Conv2DOptions: { padding: 0, stride_w: 1, stride_h: 2, fused_activation_function: 3, count: 7 },
  DepthwiseConv2DOptions: { padding: 0, stride_w: 1, stride_h: 2, depth_multiplier: 3, fused_activation_function: 4, count: 7 },
  FullyConnectedOptions: { fused_activation_function: 0, count: 5 },
  SoftmaxOptions: { beta: 0, count: 1 },
  /** AddOptions, MulOptions and SubOptions start alike. */
  ArithmeticOptions: { fused_activation_function: 0, count: 1 },
  ReducerOptions: { keep_dims: 0, count: 1 },
} as const;
