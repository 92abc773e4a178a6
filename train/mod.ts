/**
 * Training: the compute backend, the DCGAN and CycleGAN trainers, checkpoints, run directories,
 * the typed event stream that the log and the dashboard consume, and stop/pause requests.
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { initBackend, trainDcgan } from "./mod.ts";
 *
 * const program = Effect.gen(function* () {
 *   const backend = yield* initBackend("auto");
 *   return yield* trainDcgan({ data: "emoji", iters: 10 }, { runDir: "runs/example", backend });
 * });
 * ```
 *
 * @module
 */
export { type BackendInfo, type BackendName, initBackend } from "./backend.ts";
export { resizeNearestNeighborGradValues } from "./kernels_cpu.ts";
export {
  type CheckpointContent,
  listCheckpoints,
  type LoadedCheckpoint,
  loadLatestCheckpoint,
  readCheckpoint,
  removeStaleTemporaries,
  saveCheckpoint,
  type SaveCheckpointOptions,
  type TensorGroup,
  verifyCheckpoint,
} from "./checkpoint.ts";
export { TrainControl } from "./control.ts";
export {
  BackendError,
  CheckpointError,
  ConfigError,
  NonFiniteError,
  ResumeMismatchError,
  RunDirError,
} from "./errors.ts";
export {
  type CheckpointEvent,
  type EventSink,
  eventStream,
  type LossRecord,
  type RunFailedEvent,
  type RunFinishedEvent,
  type RunStartedEvent,
  type SampleEvent,
  type StepEvent,
  type SwdEvent,
  type TrainEvent,
  type WarningEvent,
} from "./events.ts";
export {
  ETA_WINDOW,
  formatDuration,
  formatLogLine,
  type LogContext,
  type LogEntry,
  logEntryFor,
  type LogEntryLevel,
  type LogSinkOptions,
  makeLogSink,
  makePlainLogger,
  plainLogFormatter,
  plainLoggerLayer,
  type PlainLoggerOptions,
} from "./logger.ts";
export {
  appendEvents,
  checkRunDir,
  createRunDir,
  defaultRunDir,
  EventBuffer,
  type LockOwner,
  lockRunDir,
  type OpenedRunDir,
  openRunDir,
  type OpenRunDirOptions,
  readRunConfig,
  repairEventLog,
  type RunLock,
  type RunPaths,
  runPaths,
} from "./run_dir.ts";
export {
  type GradientApplier,
  guardedMinimize,
  type GuardedMinimizeOptions,
  type GuardedStep,
  type GuardedUpdate,
  NonFiniteGuard,
  type NonFiniteGuardOptions,
} from "./guard.ts";
export {
  buildDcganModels,
  type DcganBatch,
  DcganConfig,
  type DcganLosses,
  type DcganModels,
  type DcganRunSummary,
  disposeDcganModels,
  resolveDcganConfig,
  trainDcgan,
  type TrainDcganOptions,
  trainStep,
} from "./dcgan.ts";
export {
  buildCycleGanModels,
  CYCLEGAN_PRESETS,
  type CycleGanBatch,
  CycleGanConfig,
  type CycleGanDirection,
  type CycleGanDomainOptions,
  type CycleGanLosses,
  type CycleGanLossOptions,
  type CycleGanModels,
  type CycleGanPreset,
  type CycleGanRunSummary,
  DEFAULT_DATA_ROOT,
  disposeCycleGanModels,
  resolveCycleGanConfig,
  resolveCycleGanDomains,
  trainCycleGan,
  type TrainCycleGanOptions,
  trainCycleGanStep,
  translateFolder,
  type TranslateFolderOptions,
} from "./cyclegan.ts";
export {
  buildDdpmModels,
  DDPM_SAMPLE_COUNT,
  type DdpmBatch,
  DdpmConfig,
  type DdpmLosses,
  type DdpmModels,
  type DdpmRunSummary,
  type DdpmSampleFiles,
  type DdpmSampler,
  defaultDdpmData,
  disposeDdpmModels,
  GRUMPY_TRAIN,
  resolveDdpmConfig,
  sampleDdpmRun,
  type SampleDdpmRunOptions,
  STRIP_FRAMES,
  STRIP_ROWS,
  trainDdpm,
  type TrainDdpmOptions,
  trainDdpmStep,
} from "./ddpm.ts";
