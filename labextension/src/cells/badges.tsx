import type { Cell } from '@jupyterlab/cells';
import { TranslationBundle } from '@jupyterlab/translation';
import { caretDownEmptyIcon, ReactWidget } from '@jupyterlab/ui-components';
import { PanelLayout } from '@lumino/widgets';
import * as React from 'react';

import { statusLabel } from '../widgets/common';
import { ICellInfo } from './model';

/** The class of a cell's role row. */
export const ROLE_ROW_CLASS = 'jp-mlops-cell-roles';

/** What the badges ask of the application. */
export interface IBadgeActions {
  /** Open the role menu of `cell` at the given point. */
  openMenu(cell: Cell, x: number, y: number): void;
}

/**
 * The role row of a code cell: badges (role, step, dependencies, model,
 * example, cache, run state) and the compiler's problems for the cell. It only
 * renders what `info` gives; the step colour also goes on the cell as a bar.
 */
export class CellRolesRow extends ReactWidget {
  constructor(
    private _cell: Cell,
    private _info: (cell: Cell) => ICellInfo | null,
    private _actions: IBadgeActions,
    private _trans: TranslationBundle
  ) {
    super();
    this.addClass(ROLE_ROW_CLASS);
  }

  /** Put the row above the cell's input (once). */
  static addTo(
    cell: Cell,
    info: (cell: Cell) => ICellInfo | null,
    actions: IBadgeActions,
    trans: TranslationBundle
  ): CellRolesRow | null {
    const layout = cell.layout as PanelLayout | null;
    if (!layout || cell.isDisposed) {
      return null;
    }
    const existing = layout.widgets.find(w => w instanceof CellRolesRow);
    if (existing) {
      return existing as CellRolesRow;
    }
    const row = new CellRolesRow(cell, info, actions, trans);
    const at = layout.widgets.findIndex(w =>
      w.hasClass('jp-Cell-inputWrapper')
    );
    layout.insertWidget(at >= 0 ? at : 0, row);
    return row;
  }

  render(): JSX.Element | null {
    const info = this._info(this._cell);
    const node = this._cell.node;
    node.classList.toggle('jp-mlops-step-cell', !!info?.step);
    node.classList.toggle(
      'jp-mlops-step-continued',
      !!info?.step && !info.first
    );
    if (info?.color) {
      node.style.setProperty('--jp-mlops-cell-step-color', info.color);
    } else {
      node.style.removeProperty('--jp-mlops-cell-step-color');
    }
    this.node.dataset.step = info?.step ?? '';
    if (!info) {
      return null;
    }
    return (
      <RolesView
        info={info}
        trans={this._trans}
        openMenu={(x, y) => this._actions.openMenu(this._cell, x, y)}
      />
    );
  }
}

function Badge(props: {
  kind: string;
  text: string;
  title?: string;
  color?: string | null;
}): JSX.Element {
  return (
    <span
      className={`jp-mlops-badge jp-mlops-badge-${props.kind}`}
      data-kind={props.kind}
      title={props.title ?? props.text}
      style={
        props.color
          ? ({ '--jp-mlops-badge-color': props.color } as React.CSSProperties)
          : undefined
      }
    >
      {props.text}
    </span>
  );
}

function RolesView(props: {
  info: ICellInfo;
  trans: TranslationBundle;
  openMenu: (x: number, y: number) => void;
}): JSX.Element {
  const { info, trans } = props;
  const { tags } = info;
  const badges: JSX.Element[] = [];
  const kale =
    tags.roleTag &&
    !['setup', 'parameters', 'skip', 'metrics'].includes(tags.roleTag)
      ? tags.roleTag
      : null;
  if (tags.role && tags.role !== 'step') {
    const labels: { [role: string]: string } = {
      setup: trans.__('setup'),
      parameters: trans.__('parameters'),
      skip: trans.__('skip'),
      metrics: trans.__('metrics')
    };
    badges.push(
      <Badge
        key="role"
        kind="role"
        text={labels[tags.role]}
        title={
          kale
            ? trans.__('%1 cell (tag %2)', labels[tags.role], kale)
            : labels[tags.role]
        }
      />
    );
  } else if (info.step) {
    badges.push(
      <Badge
        key="step"
        kind={info.first ? 'step' : 'continued'}
        text={info.first ? info.step : trans.__('↳ %1', info.step)}
        title={
          info.first
            ? tags.role === 'step'
              ? trans.__('Step %1 (tag %2)', info.step, tags.roleTag ?? '')
              : trans.__('Step %1 (untagged cells form it)', info.step)
            : trans.__('Continues step %1', info.step)
        }
        color={info.color}
      />
    );
  }
  if (info.upstream.length) {
    badges.push(
      <Badge
        key="after"
        kind="after"
        text={trans.__('after: %1', info.upstream.join(', '))}
        title={trans.__('Depends on: %1', info.upstream.join(', '))}
      />
    );
  }
  if (tags.model) {
    badges.push(
      <Badge
        key="model"
        kind="model"
        text={trans.__('model: %1', tags.model)}
      />
    );
  }
  if (tags.example) {
    badges.push(
      <Badge
        key="example"
        kind="example"
        text={trans.__('example: %1', tags.example)}
      />
    );
  }
  if (tags.cacheOff) {
    badges.push(
      <Badge key="cache" kind="cache" text={trans.__('cache off')} />
    );
  }
  if (info.status) {
    badges.push(
      <span
        key="status"
        className="jp-mlops-badge jp-mlops-badge-status"
        data-kind="status"
        data-status={info.status}
        role="status"
        title={trans.__('State in the current run')}
      >
        <span className={`jp-mlops-status-dot jp-mod-${info.status}`} />
        {statusLabel(trans, info.status)}
      </span>
    );
  }
  return (
    <>
      <div className="jp-mlops-cell-badges">
        <button
          className="jp-mlops-role-button"
          title={trans.__('Set the role of this cell')}
          aria-label={trans.__('Set the role of this cell')}
          aria-haspopup="menu"
          onClick={event => {
            const box = event.currentTarget.getBoundingClientRect();
            props.openMenu(box.left, box.bottom);
          }}
        >
          {badges.length ? (
            badges
          ) : (
            <Badge kind="none" text={trans.__('role')} />
          )}
          <caretDownEmptyIcon.react
            tag="span"
            className="jp-mlops-role-caret"
          />
        </button>
      </div>
      {[...info.errors, ...info.warnings].length ? (
        <ul className="jp-mlops-cell-problems">
          {info.errors.map((p, i) => (
            <li
              key={`e${i}`}
              className="jp-mlops-cell-problem"
              data-severity="error"
              role="alert"
            >
              {p.message}
            </li>
          ))}
          {info.warnings.map((p, i) => (
            <li
              key={`w${i}`}
              className="jp-mlops-cell-problem"
              data-severity="warning"
            >
              {p.message}
            </li>
          ))}
        </ul>
      ) : null}
    </>
  );
}
