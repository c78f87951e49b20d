import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import jsonata from 'jsonata';
import { checkExpression } from '../../shared/jsonata/check.js';
import { effectiveBoolean } from '../../shared/jsonata/cast.js';

describe('checkExpression', () => {
  it('accepts valid expressions', () => {
    assert.equal(checkExpression('type = "create" and data.type in ["indicator", "malware"]'), undefined);
    assert.equal(checkExpression('{"text": message, "id": data.id, "dest": $destination}'), undefined);
    assert.equal(checkExpression('data.extensions.`extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba`.type'), undefined);
  });

  it('names the position and JSONata code of a syntax error', () => {
    assert.match(checkExpression('a.b = ]') ?? '', /^is not a valid JSONata expression at position 7 \(S0211: .+\)$/);
    assert.match(checkExpression('type = "create" and') ?? '', /^is not a valid JSONata expression at position \d+ \(S0207: .+\)$/);
    assert.match(checkExpression('$match(name, /[/)') ?? '', /^is not a valid JSONata expression/);
  });

  it('does not quote the expression', () => {
    const secretish = 'data.name = "very-long-literal-that-should-not-be-repeated-in-the-message" and (';
    const problem = checkExpression(secretish);
    assert.ok(problem !== undefined);
    assert.ok(!problem.includes('very-long-literal'), problem);
  });

  it('refuses an empty expression', () => {
    assert.match(checkExpression('') ?? '', /empty/);
    assert.match(checkExpression('  \n ') ?? '', /empty/);
  });
});

describe('effectiveBoolean (the $boolean() cast of a filter result)', () => {
  it('follows JSONata $boolean, with no result as false', () => {
    const cases: [unknown, boolean][] = [
      [undefined, false],
      [null, false],
      [true, true],
      [false, false],
      ['', false],
      ['x', true],
      [0, false],
      [3, true],
      [[], false],
      [[0], false],
      [[0, ''], false],
      [[0, 'x'], true],
      [{}, false],
      [{ a: 1 }, true],
      [() => true, false],
      [{ _jsonata_lambda: true, body: {} }, false],
    ];
    for (const [value, expected] of cases) assert.equal(effectiveBoolean(value), expected, JSON.stringify(value) ?? String(value));
  });

  it('agrees with JSONata\'s own $boolean on data values', async () => {
    const jsonataBoolean = jsonata('$boolean($v)');
    for (const value of [null, true, false, '', 'x', 0, -1.5, [], [0], [0, ''], [0, 'x'], [[], [1]], {}, { a: 1 }]) {
      assert.equal(effectiveBoolean(value), await jsonataBoolean.evaluate({}, { v: value }), JSON.stringify(value));
    }
  });
});
