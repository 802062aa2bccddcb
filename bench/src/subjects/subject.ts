/**
 * What the bench measures for each engine. Owner: benchmarks (bench/).
 *
 * Containers are named `<prefix><i>` so every engine can start and remove the same set by name.
 */
import type { Proc } from '../proc-memory';

/** A command line to time: argv[0] is the program. */
export type CommandLine = string[];

/** One engine (or the bare runtime) under test. Each method may assume setup() ran. */
export interface Subject {
  /** Label in the table ("conga", "conga split", "docker", "podman", "runc"). */
  readonly name: string;
  /** Start daemons, load the image. */
  setup(): Promise<void>;
  /** Start n containers `sleep 3600` with no network through the CLI, all at once. */
  startCli(n: number): Promise<void>;
  /** The same through the Engine API directly (create + start), when the engine has one. */
  startApi?(n: number): Promise<void>;
  /** Containers currently running. */
  countRunning(): Promise<number>;
  /** `rm -f` of the n containers (one CLI call naming them all, as a user would). */
  removeCli(n: number): Promise<void>;
  /** DELETE ?force=1 of the n containers through the API, all at once. */
  removeApi?(n: number): Promise<void>;
  /** The management plane: every engine process and per-container monitor. */
  planeProcs(): Proc[];
  /** Component name of a plane process for the memory breakdown. */
  component(p: Proc): string;
  /** CLI commands to time with the containers running (keys: "ps", "version"). */
  cliCommands(): Record<string, CommandLine>;
  /**
   * Pull `image` into an engine that has none of its layers: wall time (ms) and, where the engine
   * has one, the peak RSS (bytes) of the process that downloads and unpacks.
   */
  pull?(image: string): Promise<{ ms: number; peakRss?: number }>;
  /** Stop everything this subject started and remove its files. Idempotent. */
  teardown(): Promise<void>;
}

/** Container name i. */
export const ctrName = (i: number) => `cb${i}`;
