import Foundation
import TestSupport
import XCTest
@testable import Kernels

/// Central finite differences of `loss` at the given indices of `x`, in Double.
func numericGradient(_ x: [Float], indices: [Int], step: Float = 1e-2, _ loss: ([Float]) -> Double) -> [Float] {
    indices.map { i in
        var plus = x, minus = x
        plus[i] += step
        minus[i] -= step
        return Float((loss(plus) - loss(minus)) / (Double(plus[i]) - Double(minus[i])))
    }
}

/// Up to `limit` indices spread over 0..<count.
func sampleIndices(_ count: Int, limit: Int = 48) -> [Int] {
    count <= limit ? Array(0..<count) : (0..<limit).map { $0 * count / limit }
}

/// L = Σ out·g in Double: the scalar whose gradient the backward passes compute.
func weightedSum(_ out: [Float], _ g: [Float]) -> Double {
    zip(out, g).reduce(0) { $0 + Double($1.0) * Double($1.1) }
}

/// Shorthand for calling pointer-based kernels on arrays.
extension Array where Element == Float {
    func withPointer<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { try body($0.baseAddress!) }
    }
    mutating func withMutablePointer<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        try withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
    }
}
