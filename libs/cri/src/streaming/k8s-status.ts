/**
 * The k8s metav1.Status documents that remote command protocol v4+ writes on its error
 * channel when a session ends (the client turns them into an exit code or an error).
 */
export function successStatus(): string {
  return JSON.stringify({ metadata: {}, status: 'Success' });
}

/** A non-zero exit: kubectl exits with `code`. */
export function exitStatus(code: number, cmd: string[]): string {
  return JSON.stringify({
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${cmd.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  });
}

/** Any other failure (bad container, runtime error). */
export function errorStatus(message: string): string {
  return JSON.stringify({ metadata: {}, status: 'Failure', message, reason: 'InternalError', code: 500 });
}
