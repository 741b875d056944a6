import { NotebookPanel } from '@jupyterlab/notebook';
import { ISignal, Signal } from '@lumino/signaling';

import { IProblem, IPipelineStep, StepStatus } from '../api';
import { stepColor } from '../colors';
import { PipelineModel } from '../models/pipeline';
import { IMlopsModel } from '../tokens';
import { IParsedTags, parseTags } from './tags';

/**
 * What a code cell shows: its role, its step and the compiler's problems.
 */
export interface ICellInfo {
  /** The cell's tags as read (role, modifiers). */
  tags: IParsedTags;
  /** The step holding the cell (from the compiler, else from the tags). */
  step: string | null;
  /** The step's colour (shared with the DAG). */
  color: string | null;
  /** Whether the cell starts its step (the others continue it). */
  first: boolean;
  /** The steps the step depends on (first cell only). */
  upstream: string[];
  /** The step's state in the notebook's current run (first cell only). */
  status: StepStatus | null;
  errors: IProblem[];
  warnings: IProblem[];
}

/**
 * The roles of one notebook's cells: the notebook as edited is compiled
 * through the pipeline model (debounced), and joined with the cell tags and
 * the live state of the notebook's run.
 */
export class CellRolesModel {
  constructor(
    readonly panel: NotebookPanel,
    private _mlops: IMlopsModel
  ) {
    this.pipeline = new PipelineModel(_mlops.client);
    this.pipeline.active = true;
    this.pipeline.changed.connect(this._emit, this);
    _mlops.runs.changed.connect(this._emit, this);
    const context = panel.context;
    void context.ready.then(() => {
      if (this._disposed) {
        return;
      }
      context.model.contentChanged.connect(this._onContent, this);
      context.pathChanged.connect(this._follow, this);
      this._follow();
    });
  }

  /** The compiled pipeline of this notebook (its own, whatever is in focus). */
  readonly pipeline: PipelineModel;

  /** Emitted when a compile, the tags or the run change. */
  get changed(): ISignal<CellRolesModel, void> {
    return this._changed;
  }

  /**
   * The steps of the notebook, in notebook order (of the last compile that
   * succeeded: a notebook with an error still offers its steps).
   */
  get steps(): IPipelineStep[] {
    const steps = this.pipeline.result?.pipeline?.steps;
    if (steps) {
      this._steps = [...steps].sort(
        (a, b) => (a.cells[0] ?? 0) - (b.cells[0] ?? 0)
      );
    }
    return this._steps;
  }

  /** The step holding cell `index` per the last compile. */
  compiledStep(index: number): IPipelineStep | null {
    return (
      this.pipeline.result?.pipeline?.steps.find(s =>
        s.cells.includes(index)
      ) ?? null
    );
  }

  /** What cell `index` shows (null for markdown and raw cells). */
  info(index: number): ICellInfo | null {
    const cells = this.panel.context.model?.cells;
    if (!cells || index < 0 || index >= cells.length) {
      return null;
    }
    const cell = cells.get(index);
    if (cell.type !== 'code') {
      return null;
    }
    const tags = parseTags((cell.getMetadata('tags') as string[]) ?? []);
    const result = this.pipeline.result;
    const compiled = this.pipeline.result?.pipeline
      ? this.compiledStep(index)
      : this._localStep(index);
    const roleCell = tags.role !== null && tags.role !== 'step';
    // The tag is read at once; the compile (debounced) may lag behind it.
    const tagged = tags.role === 'step';
    const step = roleCell
      ? null
      : tagged
        ? tags.step
        : (compiled?.name ?? null);
    const first = tagged || (!!compiled && compiled.cells[0] === index);
    let status: StepStatus | null = null;
    const run =
      this._mlops.runs.path === this.pipeline.path
        ? this._mlops.runs.current
        : null;
    if (step && first && run) {
      status = run.steps[step]?.status ?? null;
    }
    return {
      tags,
      step,
      color: step ? stepColor(step) : null,
      first,
      upstream: first && compiled?.name === step ? compiled.upstream : [],
      status,
      errors: (result?.errors ?? []).filter(p => p.cell === index),
      warnings: (result?.warnings ?? []).filter(p => p.cell === index)
    };
  }

  /**
   * The step of cell `index` read from the tags alone, as the compiler lays
   * cells out (a notebook that does not compile keeps its steps on screen):
   * untagged cells continue the step above, the first ones form `main`.
   */
  private _localStep(index: number): IPipelineStep | null {
    const cells = this.panel.context.model!.cells;
    let current: IPipelineStep | null = null;
    for (let i = 0; i <= index; i++) {
      const cell = cells.get(i);
      if (cell.type !== 'code') {
        continue;
      }
      const tags = parseTags((cell.getMetadata('tags') as string[]) ?? []);
      if (tags.role === 'step' && tags.step !== current?.name) {
        current = Private.step(tags.step!);
      } else if (tags.role === null && current === null) {
        if (!cell.sharedModel.getSource().trim()) {
          continue;
        }
        current = Private.step('main');
      } else if (tags.role !== null && tags.role !== 'step') {
        continue;
      }
      current!.cells.push(i);
    }
    return current?.cells.includes(index) ? current : null;
  }

  /** Compile again now (e.g. after the role editor wrote tags). */
  refresh(): void {
    this.pipeline.schedule(0);
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this.pipeline.changed.disconnect(this._emit, this);
    this._mlops.runs.changed.disconnect(this._emit, this);
    this.panel.context.model?.contentChanged.disconnect(this._onContent, this);
    this.pipeline.active = false;
    Signal.clearData(this);
  }

  private _follow(): void {
    const context = this.panel.context;
    this.pipeline.setNotebook(context.path, () =>
      context.isReady ? context.model.toJSON() : null
    );
  }

  private _onContent(): void {
    // Tags show at once; the compile follows after a pause.
    this._changed.emit();
    this.pipeline.schedule();
  }

  private _emit(): void {
    this._changed.emit();
  }

  private _changed = new Signal<CellRolesModel, void>(this);
  private _disposed = false;
  private _steps: IPipelineStep[] = [];
}

namespace Private {
  /** A step known from the tags only (no dependencies yet). */
  export function step(name: string): IPipelineStep {
    return { name, cells: [], upstream: [], inputs: {}, outputs: [] };
  }
}
