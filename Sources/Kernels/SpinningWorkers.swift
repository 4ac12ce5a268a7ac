import Dispatch
import Foundation
import Synchronization

/// Helper threads that stay awake for a moment after each parallel region, so back-to-back
/// kernel calls do not each pay for waking a sleeping thread.
///
/// Why: `DispatchQueue.concurrentPerform` hands iterations to Dispatch's pool, whose idle
/// threads sleep; waking one costs 30–50 µs on these machines, as long as a whole 256³ GEMM
/// on two cores. Here each helper is a long-running block on its own Dispatch queue that spins
/// for `spinSeconds` after its last job before it sleeps on a condition variable.
///
/// A job is `chunks` calls of `body(chunk)`; the caller and the helpers claim chunks from one
/// atomic counter. The counter carries the job's generation, so a helper that wakes late can
/// never claim a chunk of a later job. Which thread runs a chunk never changes what the chunk
/// computes, so results do not depend on the scheduling. One job at a time: a caller that finds
/// the workers busy (a nested or concurrent call) gets `false` and uses Dispatch directly.
///
/// Helpers start when a job first needs them, as many as its chunks less the caller (a run
/// with `Parallelism(threads: 2)` starts one, whatever the machine's cores), and sleep once
/// their spin ends, so idle workers cost no CPU. Unchecked Sendable: `body` and `started` are
/// touched only by the caller that holds `busy`; helpers read `body` only for chunks of the
/// job they claimed, between that caller's stores and its wait for `finished`.
final class SpinningWorkers: @unchecked Sendable {
    /// Up to one helper per core beyond the caller's.
    static let shared = SpinningWorkers(maxHelpers: max(0, ProcessInfo.processInfo.activeProcessorCount - 1))

    private let spinSeconds = 300e-6
    private let maxHelpers: Int
    /// generation << 42 | chunk count << 21 | next unclaimed chunk: one word, so a helper reads
    /// a job's identity, size and progress together.
    private let claim = Atomic<Int>(0)
    private static let field = 1 << 21
    private let finished = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let generation = Atomic<Int>(0)
    private let sleepers = NSCondition()
    private var sleeping = 0
    private var body: ((Int) -> Void)?
    /// Helpers started so far (they never end; idle ones sleep).
    private(set) var started = 0

    init(maxHelpers: Int) {
        self.maxHelpers = maxHelpers
    }

    /// Runs `body(0..<chunks)` on the caller and the helpers; returns when all have returned.
    /// Returns false, running nothing, when another job holds the workers.
    func perform(_ chunks: Int, _ body: (Int) -> Void) -> Bool {
        precondition(chunks < SpinningWorkers.field, "SpinningWorkers: too many chunks (\(chunks))")
        guard maxHelpers > 0, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        startHelpers(upTo: min(maxHelpers, chunks - 1))
        return withoutActuallyEscaping(body) { body in
            self.body = body
            finished.store(0, ordering: .relaxed)
            let next = (generation.load(ordering: .relaxed) + 1) & 0x1F_FFFF  // 21 bits: the word stays positive
            claim.store(next << 42 | chunks << 21, ordering: .releasing)
            generation.store(next, ordering: .releasing)
            sleepers.lock()
            if sleeping > 0 { sleepers.broadcast() }
            sleepers.unlock()
            runChunks(of: next)
            while finished.load(ordering: .acquiring) < chunks {}
            self.body = nil
            return true
        }
    }

    /// Called by the holder of `busy` only.
    private func startHelpers(upTo count: Int) {
        while started < count {
            let seen = generation.load(ordering: .acquiring)  // before this job's: the new helper joins it
            DispatchQueue(label: "augerino.kernels.worker.\(started)", qos: .userInitiated).async { [self] in helperLoop(seen: seen) }
            started += 1
        }
    }

    /// Claims and runs chunks of job `job` until none are left.
    private func runChunks(of job: Int) {
        while true {
            let state = claim.load(ordering: .acquiring)
            let chunk = state % SpinningWorkers.field, chunks = (state >> 21) % SpinningWorkers.field
            guard state >> 42 == job, chunk < chunks else { return }
            guard claim.compareExchange(expected: state, desired: state + 1, ordering: .acquiringAndReleasing).exchanged else { continue }
            body!(chunk)
            finished.add(1, ordering: .releasing)
        }
    }

    private func helperLoop(seen first: Int) {
        var seen = first
        while true {
            let deadline = monotonicSeconds() + spinSeconds
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins & 255 == 0 && monotonicSeconds() > deadline {
                    sleepers.lock()
                    while generation.load(ordering: .acquiring) == seen {
                        sleeping += 1
                        sleepers.wait()
                        sleeping -= 1
                    }
                    sleepers.unlock()
                }
            }
            seen = generation.load(ordering: .acquiring)
            runChunks(of: seen)
        }
    }
}

@inline(__always)
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
