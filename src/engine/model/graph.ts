// What the tail rebuild and the merged export share about model graphs: the
// node shape of a tfjs graph model, and where a backbone can be cut.

/** A node of a tfjs graph model's topology (model.json `modelTopology.node`). */
export interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { s?: string; i?: string; list?: { s?: string[]; i?: string[] } } & Record<string, unknown>>;
}

/** Strips the output index (':1') and control marker ('^') from an input reference. */
export const ref = (s: string): string => s.replace(/^\^/, '').replace(/:\d+$/, '');

/**
 * Positions in a topologically ordered op list where the network can be cut:
 * nothing computed before the position is read after it (no residual skip
 * crosses it), and its output feeds an expanding 1x1 convolution. In
 * MobileNetV2 these are the bottleneck blocks' inputs.
 */
export function cutPoints<T>(order: readonly T[], nameOf: (n: T) => string, inputsOf: (n: T) => string[], isExpanding1x1: (consumer: T) => boolean): number[] {
  const pos = new Map(order.map((n, i) => [nameOf(n), i]));
  // lastUse[i]: the latest position that reads the output at position i.
  const lastUse = order.map(() => -1);
  order.forEach((n, j) =>
    inputsOf(n).forEach((x) => {
      const p = pos.get(x);
      if (p !== undefined) lastUse[p] = Math.max(lastUse[p]!, j);
    }),
  );
  const cuts: number[] = [];
  let reach = -1;
  order.forEach((n, i) => {
    if (reach <= i) {
      const consumer = order.find((c) => inputsOf(c).includes(nameOf(n)));
      if (consumer && isExpanding1x1(consumer)) cuts.push(i);
    }
    reach = Math.max(reach, lastUse[i]!);
  });
  return cuts;
}

/** Names of `node` and every node it depends on (data and control inputs). */
export function ancestorsOf(nodes: readonly GraphNode[], node: string): Set<string> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const needed = new Set<string>();
  const stack = [node];
  while (stack.length) {
    const n = byName.get(stack.pop()!);
    if (!n || needed.has(n.name)) continue;
    needed.add(n.name);
    for (const i of n.input ?? []) stack.push(ref(i));
  }
  return needed;
}
