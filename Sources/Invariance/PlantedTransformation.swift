import Foundation
import NN

/// A transformation planted in a dataset with a known magnitude: every image warped by
/// exp(Σ ε_k G_k) with ε_k uniform in [−θ_k/2, θ_k/2] — the family and the parameterisation the
/// method learns (`AffineAugmentation`), so θ_k is what a run's learned width is judged against.
/// The fidelity benchmark (`augerino bench fidelity`) generates its datasets with it.
public struct PlantedTransformation: Sendable, Equatable {
    /// Full widths θ by generator; generators not named are not planted (θ = 0).
    public let widths: [AffineGenerator: Float]

    /// - Precondition: every width is finite and not negative.
    public init(_ widths: [AffineGenerator: Float]) {
        precondition(widths.values.allSatisfy { $0.isFinite && $0 >= 0 }, "planted widths must be finite and not negative")
        self.widths = widths.filter { $0.value > 0 }
    }

    /// The full width θ whose interval reaches `halfWidth` in natural units on an image of
    /// `size` pixels: degrees for rotation, pixels for translations, the factor's upper end for
    /// scale and stretch, the slope for shear (the inverse of `naturalInterval`).
    /// - Precondition: a factor above 1, a slope from 0 to 1, otherwise not negative.
    public static func width(_ generator: AffineGenerator, halfWidth: Double, size: Int) -> Float {
        switch generator {
        case .rotation: return Float(2 * halfWidth * .pi / 180)
        case .translateX, .translateY: return Float(2 * halfWidth / (0.1 * Double(size - 1) / 2))
        case .scale, .stretch:
            precondition(halfWidth >= 1, "a factor range's upper end is at least 1")
            return Float(2 * log(halfWidth))
        case .shear:
            precondition(halfWidth >= 0 && halfWidth < 1, "a slope is from 0 to 1")
            return Float(2 * atanh(halfWidth))
        }
    }

    /// No transformation at all.
    public static let none = PlantedTransformation([:])

    /// The full width θ of `generator` (0 when it is not planted).
    public func width(_ generator: AffineGenerator) -> Float { widths[generator] ?? 0 }

    /// `images` ([N, C, H, W] values, background 0) each warped by its own random draw, bilinear
    /// with zero fill; the identity when nothing is planted.
    public func apply(to images: [Float], channels: Int, height: Int, width: Int, random: inout RandomGenerator) -> [Float] {
        let imageSize = channels * height * width
        precondition(imageSize > 0 && images.count % imageSize == 0, "images must be whole [C, H, W] images")
        guard !widths.isEmpty else { return images }
        let augmentation = AffineAugmentation(learned: Set(widths.keys), initialWidths: widths, defaultWidth: 0)
        let count = images.count / imageSize
        var out: [Float] = []
        out.reserveCapacity(images.count)
        TensorContext.withoutGradients {
            for first in stride(from: 0, to: count, by: 512) {
                let n = min(512, count - first)
                let batch = Tensor(shape: [n, channels, height, width], values: Array(images[(first * imageSize)..<((first + n) * imageSize)]))
                out += augmentation(batch, random: &random).values
            }
        }
        return out
    }
}
