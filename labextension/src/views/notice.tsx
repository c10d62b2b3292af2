import { closeIcon } from '@jupyterlab/ui-components';
import React from 'react';

import { Notice } from '../store/state';

/** The last error or info of the sidebar; dismissable where `onDismiss` is given. */
export function NoticeBar(props: { notice: Notice | null; onDismiss?: () => void; role?: 'alert' | 'status' }): JSX.Element | null {
  const n = props.notice;
  if (!n) {
    return null;
  }
  return (
    <div className={`jp-ChatExt-notice jp-ChatExt-notice-${n.kind}`} role={props.role ?? (n.kind === 'error' ? 'alert' : 'status')}>
      <span>{n.text}</span>
      {n.action ? (
        <button type="button" className="jp-ChatExt-button jp-mod-styled jp-ChatExt-noticeAction" onClick={n.action.run}>
          {n.action.label}
        </button>
      ) : null}
      {props.onDismiss ? (
        <button type="button" className="jp-ChatExt-iconButton" aria-label="Dismiss" title="Dismiss" onClick={props.onDismiss}>
          <closeIcon.react tag="span" className="jp-ChatExt-icon" />
        </button>
      ) : null}
    </div>
  );
}
