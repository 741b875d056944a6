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

  /** The steps of the notebook, in notebook order. */
  get steps(): IPipelineStep[] {
    const steps = this.pipeline.result?.pipeline?.steps ?? [];
    return [...steps].sort((a, b) => (a.cells[0] ?? 0) - (b.cells[0] ?? 0));
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
    const compiled = this.compiledStep(index);
    const roleCell = tags.role !== null && tags.role !== 'step';
    const step = roleCell ? null : (compiled?.name ?? tags.step);
    const first = compiled ? compiled.cells[0] === index : tags.role === 'step';
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
      upstream: first && compiled ? compiled.upstream : [],
      status,
      errors: (result?.errors ?? []).filter(p => p.cell === index),
      warnings: (result?.warnings ?? []).filter(p => p.cell === index)
    };
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
}
