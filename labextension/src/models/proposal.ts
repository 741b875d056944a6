import { ISignal, Signal } from '@lumino/signaling';

import { ISplitResult, MlopsClient, SplitBy } from '../api';
import { FetchStatus } from '../tokens';

/**
 * The tags of one cell, by cell id (`null`: the cell has no `tags` key).
 */
export interface ICellTags {
  id: string;
  tags: string[] | null;
}

/**
 * The cells of the open notebook, as the proposal reads and writes them
 * (implemented on the notebook model by the application).
 */
export interface INotebookCells {
  /** Every cell's id and tags, in notebook order. */
  read(): ICellTags[];
  /**
   * Set these cells' tags (`null` removes the key) in one change; ids no
   * longer in the notebook are ignored.
   */
  write(changes: ICellTags[]): void;
}

/**
 * Proposed step tags for the notebook in focus (`POST /mlops/api/split`):
 * propose, accept (writes the tags into the open notebook, unsaved), undo
 * (restores every cell's previous tags), cancel.
 */
export class ProposalModel {
  constructor(client: MlopsClient) {
    this._client = client;
  }

  /** Emitted when anything of this model changes. */
  get changed(): ISignal<ProposalModel, void> {
    return this._changed;
  }
  /** The notebook followed. */
  get path(): string | null {
    return this._path;
  }
  get status(): FetchStatus {
    return this._status;
  }
  /** Why the last proposal or accept failed. */
  get error(): string | null {
    return this._error;
  }
  /**
   * Why an accept was refused: the cells `changed` since the proposal, or
   * the notebook is `closed` (the view says it; propose again).
   */
  get problem(): 'changed' | 'closed' | null {
    return this._problem;
  }
  /** The proposal shown, until accepted or cancelled. */
  get result(): ISplitResult | null {
    return this._result;
  }
  /** How to cut the notebook (headings level). */
  get by(): SplitBy {
    return this._by;
  }
  set by(value: SplitBy) {
    if (value !== this._by) {
      this._by = value;
      this._changed.emit();
    }
  }
  /** Whether an accepted proposal of this notebook can be undone. */
  get canUndo(): boolean {
    return this._path !== null && this._undo.has(this._path);
  }

  /**
   * Follow a notebook: `content` gives its JSON as edited, `cells` its cells'
   * tags (both null while the document is not ready).
   */
  setNotebook(
    path: string | null,
    content: (() => unknown) | null = null,
    cells: INotebookCells | null = null
  ): void {
    this._content = content;
    this._cells = cells;
    if (path === this._path) {
      return;
    }
    this._path = path;
    this._request++;
    this._reset();
    this._changed.emit();
  }

  /** Ask the server for a split of the notebook as edited. */
  async propose(): Promise<void> {
    const path = this._path;
    if (path === null) {
      return;
    }
    const request = ++this._request;
    this._reset(false);
    this._status = 'loading';
    this._changed.emit();
    const ids = this._cells ? this._cells.read().map(c => c.id) : null;
    try {
      const content = this._content ? this._content() : null;
      const result = await this._client.split(path, this._by, content);
      if (request !== this._request) {
        return;
      }
      this._result = result;
      this._ids = ids;
      this._status = 'ready';
    } catch (error) {
      if (request !== this._request) {
        return;
      }
      this._error = error instanceof Error ? error.message : String(error);
      this._status = 'error';
    }
    this._changed.emit();
  }

  /**
   * Write the proposed tags into the open notebook (it becomes dirty); the
   * previous tags are kept for `undo`. Returns whether tags were written.
   */
  accept(): boolean {
    const result = this._result;
    const path = this._path;
    if (!result || path === null) {
      return false;
    }
    const current = this._cells?.read() ?? null;
    if (
      !current ||
      (this._ids !== null &&
        JSON.stringify(current.map(c => c.id)) !== JSON.stringify(this._ids))
    ) {
      this._reset(false);
      this._problem = current ? 'changed' : 'closed';
      this._status = 'error';
      this._changed.emit();
      return false;
    }
    const before: ICellTags[] = [];
    const changes: ICellTags[] = [];
    for (const { index, tags } of result.cells) {
      const cell = current[index];
      if (!cell) {
        continue;
      }
      const after = tags.length ? [...tags] : null;
      if (JSON.stringify(cell.tags ?? []) === JSON.stringify(after ?? [])) {
        continue;
      }
      before.push({ id: cell.id, tags: cell.tags ? [...cell.tags] : null });
      changes.push({ id: cell.id, tags: after });
    }
    this._cells!.write(changes);
    this._undo.set(path, before);
    this._reset(false);
    this._changed.emit();
    return true;
  }

  /** Restore every cell's tags as they were before the accept. */
  undo(): void {
    const path = this._path;
    const before = path === null ? undefined : this._undo.get(path);
    if (!before || !this._cells) {
      return;
    }
    this._cells.write(before);
    this._undo.delete(path!);
    this._changed.emit();
  }

  /** Keep the accepted tags: forget the undo. */
  keep(): void {
    if (this._path !== null && this._undo.delete(this._path)) {
      this._changed.emit();
    }
  }

  /** Drop the proposal shown (or the error). */
  cancel(): void {
    this._request++;
    this._reset(false);
    this._changed.emit();
  }

  private _reset(all = true): void {
    this._status = 'idle';
    this._error = null;
    this._problem = null;
    this._result = null;
    this._ids = null;
    if (all) {
      this._by = 'auto';
    }
  }

  private _client: MlopsClient;
  private _changed = new Signal<ProposalModel, void>(this);
  private _path: string | null = null;
  private _content: (() => unknown) | null = null;
  private _cells: INotebookCells | null = null;
  private _status: FetchStatus = 'idle';
  private _error: string | null = null;
  private _problem: 'changed' | 'closed' | null = null;
  private _result: ISplitResult | null = null;
  private _ids: string[] | null = null;
  private _by: SplitBy = 'auto';
  private _request = 0;
  private _undo = new Map<string, ICellTags[]>();
}
