import Foundation

/// Recycles tensor buffers by exact size.
///
/// Training allocates the same sizes every step (activations, gradients) and evaluation
/// allocates one large output per layer; fresh large blocks come from mmap and cost a page fault
/// per 4 KiB on every step. Freed buffers wait here for the next request of the same size, up
/// to `cacheLimit` bytes; beyond that they go back to the system. Only memory is shared, never
/// contents: every operation writes its whole output.
enum TensorMemory {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [Int: [UnsafeMutableRawPointer]] = [:]
    nonisolated(unsafe) private static var cachedBytes = 0
    nonisolated(unsafe) private static var liveBytes = 0
    /// When each size was last asked for or given back, to evict the least recently used first.
    nonisolated(unsafe) private static var lastUse: [Int: Int] = [:]
    nonisolated(unsafe) private static var clock = 0
    nonisolated(unsafe) private static var peakLiveBytes = 0
    /// The most memory kept for reuse.
    static let cacheLimit = 1 << 30
    /// Buffers smaller than this come straight from malloc, which recycles small blocks itself.
    static let smallest = 64 << 10

    static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let size = max(64, bytes)
        if size >= smallest {
            lock.lock()
            liveBytes += size
            peakLiveBytes = max(peakLiveBytes, liveBytes)
            clock += 1
            lastUse[size] = clock
            if let pointer = free[size]?.popLast() {
                cachedBytes -= size
                lock.unlock()
                return pointer
            }
            for cached in free.keys.sorted(by: { lastUse[$0, default: 0] < lastUse[$1, default: 0] })
            where liveBytes + cachedBytes > peakLiveBytes + peakLiveBytes / 2 {
                while liveBytes + cachedBytes > peakLiveBytes + peakLiveBytes / 2, let pointer = free[cached]?.popLast() {
                    pointer.deallocate()
                    cachedBytes -= cached
                }
                if free[cached]?.isEmpty == true { free[cached] = nil }
            }
            lock.unlock()
        }
        return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    }

    static func release(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        let size = max(64, bytes)
        if size >= smallest {
            lock.lock()
            liveBytes -= size
            clock += 1
            lastUse[size] = clock
            if cachedBytes + size <= cacheLimit {
                free[size, default: []].append(pointer)
                cachedBytes += size
                lock.unlock()
                return
            }
            lock.unlock()
        }
        pointer.deallocate()
    }
}
