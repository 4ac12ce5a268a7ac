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

    /// Runs `body` with operations using `parallelism`.
    public static func with<R>(_ parallelism: Parallelism, _ body: () throws -> R) rethrows -> R {
        try $parallelism.withValue(parallelism, operation: body)
    }

    /// Runs `body` without recording gradients (evaluation, optimiser steps).
    public static func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
        try $recordsGradients.withValue(false, operation: body)
    }
}
