// Graph helpers shared by the tail rebuild and the merged export: input references
// resolve to node names, cut points are exactly the positions no skip crosses, and a
// node's ancestors follow data and control inputs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ancestorsOf, cutPoints, ref, type GraphNode } from './graph.js';

describe('ref', () => {
  it('strips a leading control marker and a trailing output index, nothing else', () => {
    assert.equal(ref('^block/add'), 'block/add');
    assert.equal(ref('block/add:1'), 'block/add');
    assert.equal(ref('block/add:12'), 'block/add');
    assert.equal(ref('^split:3'), 'split');
    assert.equal(ref('a^b'), 'a^b');
    assert.equal(ref('a:1b'), 'a:1b');
    assert.equal(ref('a:b'), 'a:b');
    assert.equal(ref('plain'), 'plain');
  });
});

type N = { name: string; inputs: string[] };
const n = (name: string, ...inputs: string[]): N => ({ name, inputs });

describe('cutPoints', () => {
  const points = (order: N[]) =>
    cutPoints(
      order,
      (x) => x.name,
      (x) => x.inputs,
      (c) => c.name.startsWith('expand'),
    );

  it('cuts before each expanding convolution that no residual skip crosses, the first position included', () => {
    // 0 x -> expand1 -> dw1 -> p1 (3) -> expand2 -> dw2 -> p2 -> add(p1, p2) (7) -> expand3 -> out
    const order = [n('x'), n('expand1', 'x'), n('dw1', 'expand1'), n('p1', 'dw1'), n('expand2', 'p1'), n('dw2', 'expand2'), n('p2', 'dw2'), n('add', 'p1', 'p2'), n('expand3', 'add'), n('out', 'expand3')];
    assert.deepEqual(points(order), [0, 3, 7]);
  });

  it('does not cut where an earlier output is still read later, even when an expanding convolution follows', () => {
    // p1 feeds expand2 but is also read by add at the end: every position between is crossed by the skip.
    const order = [n('x'), n('p1', 'x'), n('expand2', 'p1'), n('mid', 'expand2'), n('expandMid', 'mid'), n('add', 'p1', 'expandMid'), n('expand3', 'add')];
    assert.deepEqual(points(order), [1, 5]);
  });

  it('finds no cut when no position feeds an expanding convolution', () => {
    assert.deepEqual(points([n('x'), n('a', 'x'), n('b', 'a')]), []);
  });
});

describe('ancestorsOf', () => {
  it("follows data inputs (any output index) and control inputs, and stops at the graph's edge", () => {
    const nodes: GraphNode[] = [
      { name: 'input', op: 'Placeholder' },
      { name: 'w', op: 'Const' },
      { name: 'init', op: 'NoOp' },
      { name: 'split', op: 'Split', input: ['input'] },
      { name: 'conv', op: 'Conv2D', input: ['split:1', 'w', '^init'] },
      { name: 'unused', op: 'Relu', input: ['conv'] },
      { name: 'out', op: 'Relu', input: ['conv:0', 'missing'] },
    ];
    assert.deepEqual([...ancestorsOf(nodes, 'out')].sort(), ['conv', 'init', 'input', 'out', 'split', 'w']);
    assert.deepEqual([...ancestorsOf(nodes, 'split')].sort(), ['input', 'split']);
    assert.deepEqual([...ancestorsOf(nodes, 'nowhere')], []);
  });
});
