import Foundation

/// Reusable, 64-byte aligned float scratch buffers for kernels (GEMM packing, im2col columns).
///
/// Allocating a few hundred kilobytes per call costs page faults on every call (large blocks
/// come fresh from mmap); kernels borrow from this cache instead. It holds only memory, never
/// results, so sharing it across threads cannot change any output.
enum ScratchBuffers {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [(pointer: UnsafeMutableRawPointer, bytes: Int)] = []
    private static let keep = 16

    /// Calls `body` with a buffer of at least `count` floats (contents undefined).
    static func with<R>(floats count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let bytes = max(64, count * MemoryLayout<Float>.stride)
        let buffer = take(bytes)
        defer { give(buffer) }
        return try body(buffer.pointer.bindMemory(to: Float.self, capacity: buffer.bytes / 4))
    }

    private static func take(_ bytes: Int) -> (pointer: UnsafeMutableRawPointer, bytes: Int) {
        lock.lock()
        defer { lock.unlock() }
        // The smallest cached buffer that fits, so big ones stay for big requests.
        if let index = free.indices.filter({ free[$0].bytes >= bytes }).min(by: { free[$0].bytes < free[$1].bytes }) {
            return free.remove(at: index)
        }
        return (UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64), bytes)
    }

    private static func give(_ buffer: (pointer: UnsafeMutableRawPointer, bytes: Int)) {
        lock.lock()
        defer { lock.unlock() }
        free.append(buffer)
        if free.count > keep, let smallest = free.indices.min(by: { free[$0].bytes < free[$1].bytes }) {
            free.remove(at: smallest).pointer.deallocate()
        }
    }
}
