import Foundation
import Synchronization

/// Reusable, 64-byte aligned float scratch buffers for kernels (GEMM packing, im2col columns).
///
/// Allocating a few hundred kilobytes per call costs page faults on every call (large blocks
/// come fresh from mmap); kernels borrow from this cache instead. It holds only memory, never
/// results, so sharing it across threads cannot change any output.
enum ScratchBuffers {
    /// Cached buffers by address (a plain number, so the lock's state holds no pointer) and size.
    private static let free = Mutex<[(address: UInt, bytes: Int)]>([])
    private static let keep = 16

    /// Calls `body` with a buffer of at least `count` floats (contents undefined).
    static func with<R>(floats count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let bytes = max(64, count * MemoryLayout<Float>.stride)
        let buffer = take(bytes)
        defer { give(buffer) }
        return try body(buffer.pointer.bindMemory(to: Float.self, capacity: buffer.bytes / 4))
    }

    private static func take(_ bytes: Int) -> (pointer: UnsafeMutableRawPointer, bytes: Int) {
        let cached = free.withLock { free -> (address: UInt, bytes: Int)? in
            // The smallest cached buffer that fits, so big ones stay for big requests.
            guard let index = free.indices.filter({ free[$0].bytes >= bytes }).min(by: { free[$0].bytes < free[$1].bytes }) else { return nil }
            return free.remove(at: index)
        }
        if let cached, let pointer = UnsafeMutableRawPointer(bitPattern: cached.address) { return (pointer, cached.bytes) }
        return (UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64), bytes)
    }

    private static func give(_ buffer: (pointer: UnsafeMutableRawPointer, bytes: Int)) {
        let evicted = free.withLock { free -> UInt? in
            free.append((UInt(bitPattern: buffer.pointer), buffer.bytes))
            guard free.count > keep, let smallest = free.indices.min(by: { free[$0].bytes < free[$1].bytes }) else { return nil }
            return free.remove(at: smallest).address
        }
        evicted.flatMap(UnsafeMutableRawPointer.init(bitPattern:))?.deallocate()
    }
}
