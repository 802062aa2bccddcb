/** Progress of a long operation; same fields as the Docker API's progress JSON. */
export interface Progress {
  id: string;
  status: string;
  current: number;
  total: number;
}
