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
    /// The most memory kept for reuse.
    static let cacheLimit = 1 << 30
    /// Buffers smaller than this come straight from malloc, which recycles small blocks itself.
    static let smallest = 64 << 10

    static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let size = max(64, bytes)
        if size >= smallest {
            lock.lock()
            if let pointer = free[size]?.popLast() {
                cachedBytes -= size
                lock.unlock()
                return pointer
            }
            lock.unlock()
        }
        return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    }

    static func release(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        let size = max(64, bytes)
        if size >= smallest {
            lock.lock()
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
