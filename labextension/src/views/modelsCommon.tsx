/** Small pieces the Models tab's sections share. */
import React from 'react';

/** The failure of one part of the view, shown where it happened. */
export function PartError(props: { text?: string }): JSX.Element | null {
  return props.text ? (
    <div className="jp-ChatExt-error" role="alert">
      {props.text}
    </div>
  ) : null;
}
