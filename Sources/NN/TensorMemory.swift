import Foundation
import Synchronization

/// Recycles tensor buffers by exact size.
///
/// Training allocates the same sizes every step (activations, gradients) and evaluation
/// allocates one large output per layer; fresh large blocks come from mmap and cost a page fault
/// per 4 KiB on every step. Freed buffers wait here for the next request of the same size, up
/// to `cacheLimit` bytes; beyond that they go back to the system. Only memory is shared, never
/// contents: every operation writes its whole output.
///
/// The cache belongs to a job: when the outermost `TensorContext.with` returns, `trim()` hands
/// every cached buffer back and forgets the peak, so a process that trained once (the daemon
/// before jobs had a process of their own; a bench that runs case after case) holds no memory
/// sized by an earlier job.
enum TensorMemory {
    /// Everything the cache knows, behind one lock.
    private struct State {
        /// Cached buffers by size, as addresses (plain numbers: the lock's state holds no pointer).
        var free: [Int: [UInt]] = [:]
        var cachedBytes = 0
        var liveBytes = 0
        /// When each size was last asked for or given back, to evict the least recently used first.
        var lastUse: [Int: Int] = [:]
        var clock = 0
        var peakLiveBytes = 0
    }
    private static let state = Mutex(State())
    /// The most memory kept for reuse.
    static let cacheLimit = 1 << 30
    /// Buffers smaller than this come straight from malloc, which recycles small blocks itself.
    static let smallest = 64 << 10

    static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let size = max(64, bytes)
        if size >= smallest {
            var evicted: [UInt] = []
            let reused = state.withLock { state -> UInt? in
                state.liveBytes += size
                state.peakLiveBytes = max(state.peakLiveBytes, state.liveBytes)
                state.clock += 1
                state.lastUse[size] = state.clock
                if let address = state.free[size]?.popLast() {
                    state.cachedBytes -= size
                    return address
                }
                let ceiling = state.peakLiveBytes + state.peakLiveBytes / 2
                guard state.liveBytes + state.cachedBytes > ceiling else { return nil }
                // Least recently used sizes first (a few dozen sizes); the buffers are freed
                // after the lock is let go.
                for cached in state.free.keys.sorted(by: { state.lastUse[$0, default: 0] < state.lastUse[$1, default: 0] })
                where state.liveBytes + state.cachedBytes > ceiling {
                    while state.liveBytes + state.cachedBytes > ceiling, let address = state.free[cached]?.popLast() {
                        evicted.append(address)
                        state.cachedBytes -= cached
                    }
                    if state.free[cached]?.isEmpty == true { state.free[cached] = nil }
                }
                return nil
            }
            for address in evicted { UnsafeMutableRawPointer(bitPattern: address)?.deallocate() }
            if let reused, let pointer = UnsafeMutableRawPointer(bitPattern: reused) { return pointer }
        }
        return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    }

    static func release(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        let size = max(64, bytes)
        if size >= smallest {
            let address = UInt(bitPattern: pointer)
            let kept = state.withLock { state -> Bool in
                state.liveBytes -= size
                state.clock += 1
                state.lastUse[size] = state.clock
                guard state.cachedBytes + size <= cacheLimit else { return false }
                state.free[size, default: []].append(address)
                state.cachedBytes += size
                return true
            }
            if kept { return }
        }
        pointer.deallocate()
    }

    /// Hands every cached buffer back to the system and starts the peak afresh from what is
    /// live now.
    static func trim() {
        let cached = state.withLock { state -> [UInt] in
            let addresses = state.free.values.flatMap { $0 }
            state.free = [:]
            state.lastUse = [:]
            state.cachedBytes = 0
            state.peakLiveBytes = state.liveBytes
            return addresses
        }
        for address in cached { UnsafeMutableRawPointer(bitPattern: address)?.deallocate() }
    }

    /// Bytes of live tensors and bytes cached for reuse.
    static var usage: (live: Int, cached: Int, peak: Int) {
        state.withLock { ($0.liveBytes, $0.cachedBytes, $0.peakLiveBytes) }
    }
}
