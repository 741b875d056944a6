/**
 * Small stdlib-only notebooks for the panel flows, run by the real server.
 */

/** A code cell with tags. */
export function code(source: string, ...tags: string[]) {
  return {
    cell_type: 'code',
    metadata: { tags },
    source,
    outputs: [],
    execution_count: null
  };
}

/** A notebook (JSON text) with these cells and a python3 kernel. */
export function notebook(cells: unknown[], metadata: object = {}): string {
  return JSON.stringify({
    cells,
    metadata: {
      kernelspec: {
        name: 'python3',
        display_name: 'Python 3',
        language: 'python'
      },
      ...metadata
    },
    nbformat: 4,
    nbformat_minor: 5
  });
}

/**
 * load -> train (sleeps ≈ 2 s, so `running` is observable) -> evaluate, with
 * parameters, a metric and a model that publishes (a notebook-defined class).
 * The cache is shared by the tests: a different `size` is never cached.
 */
export function flowNotebook(size = 10): string {
  return notebook([
    code('scale = 2.0\nrounds = 3', 'parameters'),
    code('score', 'metrics'),
    code(`data = [i * scale for i in range(${size})]`, 'step:load'),
    code(
      [
        'import time',
        "print('training', flush=True)",
        'time.sleep(2)',
        'class Model:',
        '    def predict(self, X):',
        '        return [sum(row) * scale + self.offset for row in X]',
        'model = Model()',
        'model.offset = sum(data) / len(data)',
        'X = [[1.0, 2.0], [3.0, 4.0]]',
        "print('trained with offset', model.offset)"
      ].join('\n'),
      'step:train',
      'model:model',
      'example:X'
    ),
    code('score = model.predict(X)[0] / 10 + rounds', 'step:evaluate')
  ]);
}

/** A notebook whose second step raises. */
export function failingNotebook(): string {
  return notebook([
    code('a = 1', 'step:prepare'),
    code("b = a + 1\nraise ValueError('the data is bad')", 'step:explode')
  ]);
}

/** A notebook that does not compile: step two reads a variable nobody sets. */
export function brokenNotebook(): string {
  return notebook([
    code('a = 1', 'step:one'),
    code('b = a + 1', 'step:two'),
    code('c = b + missing', 'step:three')
  ]);
}

/** A notebook without tags: a single `main` step. */
export function untaggedNotebook(): string {
  return notebook([code('x = 1'), code('y = x + 1')]);
}
