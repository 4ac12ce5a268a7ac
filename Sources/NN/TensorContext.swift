import Foundation
import Kernels

/// Settings that operations read while they run, scoped to a block of code (task-local, so
/// two trainings in one process never see each other's settings; there is no global to set).
public enum TensorContext {
    /// Threads the kernels use. Default: `AUGERINO_THREADS`, else all cores.
    @TaskLocal public static var parallelism: Parallelism =
        (try? Parallelism.fromEnvironment()) ?? Parallelism(threads: ProcessInfo.processInfo.activeProcessorCount)

    /// Whether operations record the tape for `backward()`. Off inside `withoutGradients`.
    @TaskLocal public static var recordsGradients = true

    /// Whether a `with` is running further out on this task.
    @TaskLocal static var isNested = false

    /// Runs `body` with operations using `parallelism`: a job's scope. When the outermost one
    /// returns, the tensor buffers it cached go back to the system (`TensorMemory.trim`).
    public static func with<R>(_ parallelism: Parallelism, _ body: () throws -> R) rethrows -> R {
        if isNested { return try $parallelism.withValue(parallelism, operation: body) }
        defer { TensorMemory.trim() }
        return try $isNested.withValue(true) { try $parallelism.withValue(parallelism, operation: body) }
    }

    /// Calls `body(i)` for every `i` in `0..<count`, over `parallelism`'s threads in contiguous
    /// ranges: for per-item work outside the kernels (one small solve per image). `body` must
    /// write only what its own `i` owns, and may not read the task-local settings (the other
    /// threads are not this task's).
    public static func forEachConcurrently(_ count: Int, _ body: (Int) -> Void) {
        parallelism.forEach(count, body)
    }

    /// Runs `body` without recording gradients (evaluation, optimiser steps).
    public static func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
        try $recordsGradients.withValue(false, operation: body)
    }
}
