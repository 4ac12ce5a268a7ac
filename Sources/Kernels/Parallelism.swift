import Foundation

/// How many threads a kernel may use. Passed to every kernel explicitly: there is no
/// process-wide default to mutate.
///
/// Work is always cut into the same contiguous ranges for a given thread count, so results are
/// bitwise reproducible for that count. Kernels cut their work so that each output element is
/// computed by one thread in a fixed order, which makes most of them bitwise equal across
/// thread counts as well (the exceptions say so in their documentation).
public struct Parallelism: Sendable, Equatable, CustomStringConvertible {
    /// Number of threads, at least 1.
    public let threads: Int

    /// One thread: everything runs on the caller's thread.
    public static let serial = Parallelism(threads: 1)

    /// - Parameter threads: clamped to at least 1.
    public init(threads: Int) {
        self.threads = max(1, threads)
    }

    /// All cores of this machine, unless the environment variable `AUGERINO_THREADS` says otherwise.
    /// - Throws: `KernelError.invalidThreadCount` when `AUGERINO_THREADS` is not a whole number from 1 to 1024.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Parallelism {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard let text = environment["AUGERINO_THREADS"] else { return Parallelism(threads: cores) }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), (0...1024).contains(value) else {
            throw KernelError.invalidThreadCount(source: "AUGERINO_THREADS", value: text, cores: cores)
        }
        return Parallelism(threads: value == 0 ? cores : value)
    }

    public var description: String { threads == 1 ? "1 thread" : "\(threads) threads" }

    /// Calls `body` once for each of `min(threads, count)` contiguous, near-equal ranges that
    /// together cover `0..<count`, concurrently. Returns when all calls have returned.
    ///
    /// - Parameter grain: the least work worth a thread of its own: at most `count / grain`
    ///   ranges are made, so small jobs stay on the caller's thread (waking a thread costs tens
    ///   of microseconds).
    public func forEachRange(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(threads, max(1, count / max(1, grain)))
        if chunks == 1 { body(0..<count); return }
        DispatchQueueConcurrency.perform(chunks) { chunk in
            body(Parallelism.range(chunk, of: chunks, in: count))
        }
    }

    /// Calls `body(i)` for every `i` in `0..<count`, concurrently over `threads` contiguous ranges.
    public func forEach(_ count: Int, grain: Int = 1, _ body: (Int) -> Void) {
        forEachRange(count, grain: grain) { range in
            for index in range { body(index) }
        }
    }

    /// The `chunk`-th of `chunks` contiguous near-equal ranges covering `0..<count`.
    public static func range(_ chunk: Int, of chunks: Int, in count: Int) -> Range<Int> {
        let base = count / chunks, extra = count % chunks
        let start = chunk * base + min(chunk, extra)
        return start..<(start + base + (chunk < extra ? 1 : 0))
    }
}
