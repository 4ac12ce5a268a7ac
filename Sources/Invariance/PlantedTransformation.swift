import Foundation
import NN

/// A transformation planted in a dataset with a known magnitude: every image warped by
/// exp(Σ ε_k G_k) with ε_k uniform in [−θ_k/2, θ_k/2], then adjusted in brightness, contrast and
/// gamma by the factors e^ε_f, ε_f uniform in [−θ_f/2, θ_f/2], then mirrored with each
/// planted mirror's probability — the families and the
/// parameterisation the method learns (`AffineAugmentation`, `PhotometricAugmentation`), so each
/// θ is what a run's learned width is judged against. The fidelity benchmark (`augerino bench
/// fidelity`) generates its datasets with it.
public struct PlantedTransformation: Sendable, Equatable {
    /// Full widths θ by generator; generators not named are not planted (θ = 0).
    public let widths: [AffineGenerator: Float]
    /// Full widths θ by photometric family; families not named are not planted.
    public let photometric: [PhotometricFamily: Float]
    /// The probability p ∈ (0, ½] of each mirror (or the transpose), applied last; families not
    /// named are not planted.
    public let symmetry: [SymmetryFamily: Float]

    /// - Precondition: every width is finite and not negative; every probability at most ½.
    public init(_ widths: [AffineGenerator: Float], photometric: [PhotometricFamily: Float] = [:], symmetry: [SymmetryFamily: Float] = [:]) {
        precondition((Array(widths.values) + Array(photometric.values)).allSatisfy { $0.isFinite && $0 >= 0 },
                     "planted widths must be finite and not negative")
        precondition(symmetry.values.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 0.5 }, "planted probabilities must be from 0 to ½")
        self.widths = widths.filter { $0.value > 0 }
        self.photometric = photometric.filter { $0.value > 0 }
        self.symmetry = symmetry.filter { $0.value > 0 }
    }

    /// The full width θ whose factors reach `halfWidth` in natural units: brightness in percent
    /// (20: ×0.8…×1.2 read as its upper end, e^(θ/2) = 1.2), contrast, gamma and saturation as the
    /// factor's upper end, hue in degrees (the inverse of `PhotometricFamily.naturalInterval`'s upper end).
    /// - Precondition: a percent above 0, a factor above 1.
    public static func width(_ family: PhotometricFamily, halfWidth: Double) -> Float {
        switch family {
        case .brightness:
            precondition(halfWidth > 0, "a brightness range's upper end is above 0%")
            return Float(2 * log(1 + halfWidth / 100))
        case .contrast, .gamma, .saturation:
            precondition(halfWidth > 1, "a factor range's upper end is above 1")
            return Float(2 * log(halfWidth))
        case .hue:
            precondition(halfWidth > 0 && halfWidth <= 180, "a hue range's upper end is within 0°…180°")
            return Float(2 * halfWidth * .pi / 180)
        }
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

    /// The full width θ of `family` (0 when it is not planted).
    public func width(_ family: PhotometricFamily) -> Float { photometric[family] ?? 0 }

    /// The probability of `family` (0 when it is not planted).
    public func probability(_ family: SymmetryFamily) -> Float { symmetry[family] ?? 0 }

    /// `images` ([N, C, H, W] values, background 0) each warped by its own random draw, bilinear
    /// with zero fill, then adjusted by its own photometric draw on [0, `white`] (values there
    /// mapped onto [0, 1]), then mirrored by its own draw of each planted mirror; the identity
    /// when nothing is planted.
    public func apply(to images: [Float], channels: Int, height: Int, width: Int, white: Float = 255,
                      random: inout RandomGenerator) -> [Float] {
        let imageSize = channels * height * width
        precondition(imageSize > 0 && images.count % imageSize == 0, "images must be whole [C, H, W] images")
        guard !widths.isEmpty || !photometric.isEmpty || !symmetry.isEmpty else { return images }
        let augmentation = AffineAugmentation(learned: Set(widths.keys), initialWidths: widths, defaultWidth: 0)
        let adjustment = photometric.isEmpty ? nil
            : PhotometricAugmentation(learned: Set(photometric.keys), initialWidths: photometric, defaultWidth: 0, mean: 0, std: 1, low: 0, high: white)
        let count = images.count / imageSize
        var out: [Float] = []
        out.reserveCapacity(images.count)
        TensorContext.withoutGradients {
            for first in stride(from: 0, to: count, by: 512) {
                let n = min(512, count - first)
                var batch = Tensor(shape: [n, channels, height, width], values: Array(images[(first * imageSize)..<((first + n) * imageSize)]))
                if !widths.isEmpty { batch = augmentation(batch, random: &random) }
                if let adjustment { batch = adjustment(batch, random: &random) }
                var values = batch.values
                if !symmetry.isEmpty {
                    for i in 0..<n {
                        let drawn = SymmetryFamily.allCases.filter { family in symmetry[family].map { random.nextFloat() < $0 } ?? false }
                        let range = (i * imageSize)..<((i + 1) * imageSize)
                        values.replaceSubrange(range, with: SymmetryElement(applying: Set(drawn)).apply(to: Array(values[range]), planes: channels, height: height, width: width))
                    }
                }
                out += values
            }
        }
        return out
    }
}
