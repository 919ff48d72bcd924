/** The stable code of a sluice error answer (`{"error":{"code":"OVERLOADED",…}}`), or '' when the body is not one. */
export function errorCode(body: string): string {
  const m = /"code":"([A-Z_]+)"/.exec(body);
  return m === null ? '' : (m[1] as string);
}
