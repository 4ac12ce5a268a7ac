import Foundation
import NN

/// Classes that are one picture seen under photometric adjustments, read pixel by pixel.
///
/// Where every member of a class is the same picture adjusted (a sprite, a rendered asset, a
/// template), its pixels correspond one to one with every other member's, and an image's
/// brightness, contrast, gamma, saturation and hue are read at once by adjusting one member, the
/// class's reference, until it matches the image pixel by pixel (`pixelFits`, through the same
/// kernel that plants and augments them). Clamps cost nothing there: a value the image has at
/// white is matched by any prediction at white, where the profiles of quantiles (`valueFits`)
/// and the colour undone before them mistook a saturation clamped at white for a darkening
/// (Mario's (220, 30, 30) saturated ×1.5 is (255, 2, 2), undone (196, 27, 27)).
///
/// The decision (`onePictureReferences`) is the same fit on a few members of each class: the
/// class is one picture when the fit explains at least `onePictureFit` of its median member's
/// variance (the sprites 0.9997 and more, MNIST's digits 0.34–0.37, Fashion-MNIST's garments
/// 0.13) and its reference shows enough distinct values to tell the families apart
/// (`onePictureExtraLevels`). A photometric change keeps that (it is what the fit undoes), so a
/// source and its planted cases are decided alike; digits, garments or photographs of several
/// things are explained far less.
extension PhotometricSpread {
    /// The share of a member's variance the pixel fit must explain, at the class's median, for
    /// the class to count as one picture.
    static let onePictureFit = 0.9
    /// Distinct values (to 1/255) a class's reference must show where it is compared, beyond the
    /// families fitted: a fit of five factors to five values, some of them clamped in a target, is
    /// not determined (sprites of two flat colours, five values, brightened within ±40% read
    /// brightness 18% wide and gamma ×1.10 pixel by pixel). The benchmark's sprites show 8 (Iggy)
    /// and 12 (Mario) with five families fitted.
    static let onePictureExtraLevels = 2
    /// Members per class fitted for the decision, at most.
    static let onePictureSample = 16
    /// Levenberg–Marquardt iterations of a pixel fit from each start, and then from the best.
    static let pixelStartIterations = 6
    static let pixelIterations = 24
    /// Starts iterated from, per image: those whose adjustment lies nearest it as they stand.
    static let screenedStarts = 3
    /// The least spread a family's distances from the middle are measured in (log-factor): a
    /// family that hardly varies (its median deviation the fit's own noise) must not outweigh one
    /// that does. About the report's "none" (×1.05).
    static let middleScale = 0.05
    /// Images fitted together (one batched adjustment per trial), at most; and values, at most
    /// (bounds the Jacobian's memory whatever the images' size).
    static let pixelChunk = 64
    static let pixelChunkValues = 1 << 20

    /// Each class's reference member when every class is one picture, else nil. The reference is
    /// the member with the fewest values at 0 or 1 (a clamp loses what lay beyond it), ties
    /// going to the member whose mean is nearest the class's median mean.
    func onePictureReferences(_ image: (Int) -> [Float], count: Int, channels: Int, plane: Int, groups: [Int]) -> [Int: Int]? {
        let fitted = PhotometricFamily.allCases.filter { estimated.contains($0) && (channels == 3 || $0.index < 3) }.count
        var references: [Int: Int] = [:]
        var sample: [Int] = []
        for (g, members) in Dictionary(grouping: 0..<count, by: { groups[$0] }) {
            let clamped = members.map { Self.clampedValues(image($0)) }
            let means = members.map { i in image(i).reduce(0, +) }
            let median = means.sorted()[means.count / 2]
            let best = members.indices.min { a, b in
                clamped[a] != clamped[b] ? clamped[a] < clamped[b] : abs(means[a] - median) < abs(means[b] - median)
            }!
            references[g] = members[best]
            let reference = image(members[best]), weights = Self.unclampedWeights(reference, channels: channels, plane: plane)
            let levels = Set(zip(reference, weights).filter { $0.1 > 0 }.map { Int(($0.0 * 255).rounded()) })
            guard levels.count >= fitted + Self.onePictureExtraLevels else { return nil }
            sample += members.filter { $0 != members[best] }.prefix(Self.onePictureSample)
        }
        guard !sample.isEmpty else { return nil }
        let fits = pixelFits(rows: sample, image: image, references: references, groups: groups, channels: channels, plane: plane,
                             startIterations: 0, iterations: Self.pixelIterations / 2)
        for g in references.keys {
            let explained = zip(sample, fits).filter { groups[$0.0] == g }.map(\.1.explained).sorted()
            guard explained.isEmpty || explained[explained.count / 2] >= Self.onePictureFit else { return nil }
        }
        return references
    }

    /// Every image's log-factors (log β, log κ, log γ, log σ, η) and its pair's (`moved(row)`,
    /// the image adjusted by a known δ), pixel by pixel: first against each class's first reference
    /// (`onePictureReferences`), then against its second (`secondReferences`), each image started
    /// from its first pose less the second reference's; the pairs from their image's pose.
    func readPixelByPixel(_ image: (Int) -> [Float], moved: @escaping (Int) -> [Float], references first: [Int: Int], groups: [Int], channels: Int,
                          plane: Int) -> (plain: [[Double]], moved: [[Double]]) {
        let rows = Array(0..<groups.count)
        let firstFits = pixelFits(rows: rows, image: image, references: first, groups: groups, channels: channels, plane: plane).map(\.f)
        let second = secondReferences(firstFits, image: image, groups: groups)
        let starts = rows.map { row -> [Double] in
            let reference = firstFits[second[groups[row]]!]
            return (0..<5).map { (k: Int) -> Double in
                let d = firstFits[row][k] - reference[k]
                return k == 4 ? atan2(sin(d), cos(d)) : d
            }
        }
        let fits = pixelFits(rows: rows, image: image, references: second, groups: groups, channels: channels, plane: plane, from: starts).map(\.f)
        let pairs = pixelFits(rows: rows, image: image, target: moved, references: second, groups: groups, channels: channels, plane: plane,
                              from: fits).map(\.f)
        return (fits, pairs)
    }

    /// Each class's second reference, from every member's fit against the first: brightness,
    /// contrast, saturation and hue compose (two brightenings are one, and so on, clamps aside),
    /// so a reference adjusted by them only shifts every pose alike; gamma is applied last, and a
    /// brightness or contrast after it is not one before it, so a reference with a gamma of its
    /// own bends every pose read against it (sprites with brightness, contrast and gamma planted
    /// together read brightness 16–21% wide so). So the reference is taken among the members
    /// whose gamma lies as near the class's median as its nearest tenth's, or within
    /// `middleScale` of it (all of them where gamma does not vary), and of those, as the first,
    /// the one with the fewest values at 0 or 1 (a clamped reference also moves the mean that
    /// contrast turns about), ties going to the member nearest the class's middle (each family's
    /// distance from its median in units of its median deviation, at least `middleScale`; hue on
    /// the circle).
    func secondReferences(_ fits: [[Double]], image: (Int) -> [Float], groups: [Int]) -> [Int: Int] {
        let families = PhotometricFamily.allCases.filter(estimated.contains).map(\.index)
        let gamma = PhotometricFamily.gamma.index
        var references: [Int: Int] = [:]
        for (g, members) in Dictionary(grouping: fits.indices, by: { groups[$0] }) {
            let difference = { (a: Double, b: Double, family: Int) -> Double in
                family == 4 ? abs(atan2(sin(a - b), cos(a - b))) : abs(a - b)
            }
            let medians = (0..<5).map { k -> Double in
                k == 4 ? atan2(members.reduce(0) { $0 + sin(fits[$1][k]) }, members.reduce(0) { $0 + cos(fits[$1][k]) })
                       : members.map { fits[$0][k] }.sorted()[members.count / 2]
            }
            let scales = (0..<5).map { k -> Double in
                max(Self.middleScale, members.map { difference(fits[$0][k], medians[k], k) }.sorted()[members.count / 2])
            }
            let distance = { (row: Int) in families.reduce(0.0) { $0 + difference(fits[row][$1], medians[$1], $1) / scales[$1] } }
            let gammaApart = { (row: Int) in abs(fits[row][gamma] - medians[gamma]) }
            let tenth = members.map(gammaApart).sorted()[members.count / 10]
            let candidates = estimated.contains(.gamma) ? members.filter { gammaApart($0) <= max(tenth, Self.middleScale) } : members
            let clamped = Dictionary(uniqueKeysWithValues: candidates.map { ($0, Self.clampedValues(image($0))) })
            references[g] = candidates.min { i, j in clamped[i]! != clamped[j]! ? clamped[i]! < clamped[j]! : distance(i) < distance(j) }
        }
        return references
    }

    /// How many of an image's values lie at 0 or 1, where a clamp may have put them: the fewer, the
    /// less a reference has lost.
    static func clampedValues(_ image: [Float]) -> Int { image.reduce(0) { $0 + ($1 <= 0 || $1 >= 1 ? 1 : 0) } }

    /// Which of a reference's values the pixel fit compares (1) and which not (0): a pixel with a
    /// channel at 0 or 1 may have been clamped there, and what lay beyond is lost (a white that was
    /// brighter, darkened, is predicted too dark), so it is left out; unless fewer than a quarter
    /// of the pixels would be left (digits on black, strokes at white): then every value counts.
    static func unclampedWeights(_ reference: [Float], channels: Int, plane: Int) -> [Float] {
        let kept = (0..<plane).map { i in (0..<channels).allSatisfy { reference[$0 * plane + i] > 0 && reference[$0 * plane + i] < 1 } }
        guard kept.filter({ $0 }).count * 4 >= plane else { return [Float](repeating: 1, count: channels * plane) }
        return (0..<channels).flatMap { _ in kept.map { $0 ? Float(1) : 0 } }
    }

    /// For each of `rows`, the log-factors (log β, log κ, log γ, log σ, η; families not
    /// estimated stay 0) whose adjustment of its class's reference comes nearest the image
    /// (`image(row)`, or `target(row)` when given) pixel by pixel, and the share of the image's
    /// variance that leaves explained. Levenberg–Marquardt on the estimated families, the
    /// Jacobian by forward differences, `pixelChunk` images at a time (fewer where they are large),
    /// each image's normal equations and costs on the context's threads.
    /// Only the pixels `unclampedWeights` keeps count (the weights are 0 or 1). Starts: the identity with
    /// η at the turn between the two hue histograms (the fit cannot cross the circle); where
    /// brightness and contrast are both read, along their ridge (log β = −log κ = ±0.15, ±0.3: a
    /// colour clipped at white may have been clipped by either); and further up in contrast (log
    /// κ 0.5, 1) and brightness (log β 0.4, 0.8), since the reference is the least clamped member
    /// and the others mostly lie above it (sprites under contrast ×1.6 fitted from the first five
    /// alone fell, one image in twenty, into a basin at log β −1.5, log κ +2.2). Each image runs
    /// `startIterations` from the `screenedStarts` starts nearest it as they stand, then
    /// `iterations` from the best. With `from`, one start per row, its own, and `iterations`;
    /// with `startIterations` 0, the identity start alone.
    func pixelFits(rows: [Int], image: (Int) -> [Float], target targetImage: ((Int) -> [Float])? = nil, references: [Int: Int], groups: [Int],
                   channels: Int, plane: Int, from: [[Double]]? = nil, startIterations: Int = PhotometricSpread.pixelStartIterations,
                   iterations: Int = PhotometricSpread.pixelIterations) -> [(f: [Double], explained: Double)] {
        let size = channels * plane
        let colour = channels == 3
        let free = PhotometricFamily.allCases.filter { estimated.contains($0) && (colour || $0.index < 3) }.map(\.index)
        var results: [(f: [Double], explained: Double)] = []
        guard !free.isEmpty else { return rows.map { _ in ([0, 0, 0, 0, 0], 0) } }
        let ridge = estimated.contains(.brightness) && estimated.contains(.contrast) && from == nil
        // Along the ridge, and further up in contrast and brightness: the reference is the least
        // clamped member, so the others sit mostly above it.
        var starts: [[Double]] = ridge ? [0.15, -0.15, 0.3, -0.3].map { [$0, -$0, 0, 0, 0] } : []
        if from == nil && estimated.contains(.contrast) { starts += [0.5, 1.0].map { [0, $0, 0, 0, 0] } }
        if from == nil && estimated.contains(.brightness) { starts += [0.4, 0.8].map { [$0, 0, 0, 0, 0] } }
        let chunkSize = max(1, min(Self.pixelChunk, Self.pixelChunkValues / size))
        var chunkStart = 0
        while chunkStart < rows.count {
            let chunk = Array(rows[chunkStart..<min(rows.count, chunkStart + chunkSize)])
            let k = chunk.count
            let referenceImages = chunk.map { image(references[groups[$0]]!) }
            let referenceValues = Tensor(shape: [k, channels, 1, plane], values: referenceImages.flatMap { $0 })
            let target = chunk.flatMap { targetImage?($0) ?? image($0) }
            let weight = referenceImages.flatMap { Self.unclampedWeights($0, channels: channels, plane: plane) }
            /// The adjusted references of the chunk's rows `active` (positions in the chunk) by their `f`.
            func predict(_ f: [[Double]], _ active: [Int]) -> [Float] {
                let factors = active.flatMap { r in [Float(Foundation.exp(f[r][0])), Float(Foundation.exp(f[r][1])), Float(Foundation.exp(f[r][2])),
                                                     Float(Foundation.exp(f[r][3])), Float(f[r][4])] }
                let values = active.count == k ? referenceValues
                    : Tensor(shape: [active.count, channels, 1, plane], values: active.flatMap { referenceImages[$0] })
                return TensorContext.withoutGradients {
                    Tensor.photometricAdjust(values,
                                             factors: Tensor(shape: [active.count, 5], values: factors), gain: 1, offset: 0).values
                }
            }
            /// The squared distance of row `r`'s prediction (at `offset` in `predicted`) from its target.
            func cost(_ predicted: [Float], at offset: Int, row r: Int) -> Double {
                var sum = 0.0
                for i in 0..<size { let d = Double(predicted[offset + i] - target[r * size + i]); sum += Double(weight[r * size + i]) * d * d }
                return sum
            }
            /// The costs of rows `active` (positions in the chunk) whose predictions `predicted` holds in turn.
            func costsOf(_ predicted: [Float], _ active: [Int]) -> [Double] {
                var costs = [Double](repeating: 0, count: active.count)
                costs.withUnsafeMutableBufferPointer { costs in
                    TensorContext.forEachConcurrently(active.count) { costs[$0] = cost(predicted, at: $0 * size, row: active[$0]) }
                }
                return costs
            }
            /// Levenberg–Marquardt from `start`, each row with its own damping; a row stops when a
            /// step no longer lowers its cost by a part in 10⁹, or its damping passes 10⁸.
            func refine(_ start: [[Double]], _ steps: Int) -> (f: [[Double]], cost: [Double]) {
                var f = start
                var current = predict(f, Array(0..<k))
                var costs = costsOf(current, Array(0..<k))
                var damping = [Double](repeating: 1e-3, count: k), stopped = [Bool](repeating: false, count: k)
                let h = 1e-3, m = free.count
                for _ in 0..<steps {
                    let active = (0..<k).filter { !stopped[$0] }
                    guard !active.isEmpty else { break }
                    // Forward differences: a step of h from the prediction at hand, each family's
                    // column made where the rows' normal equations are summed.
                    let pluses = free.map { a in predict(f.map { p in var q = p; q[a] += h; return q }, active) }
                    // Each row's normal equations and step, the rows spread over the threads.
                    var steps = [[Double]?](repeating: nil, count: active.count)
                    steps.withUnsafeMutableBufferPointer { steps in
                        TensorContext.forEachConcurrently(active.count) { position in
                            let r = active[position]
                            var normal = [Double](repeating: 0, count: m * m), gradient = [Double](repeating: 0, count: m)
                            var column = [Double](repeating: 0, count: m)
                            for i in 0..<size {
                                let w = Double(weight[r * size + i])
                                guard w > 0 else { continue }
                                let here = current[r * size + i]
                                let residual = Double(here - target[r * size + i])
                                for a in 0..<m { column[a] = Double((pluses[a][position * size + i] - here) / Float(h)) }
                                for a in 0..<m {
                                    gradient[a] += column[a] * residual
                                    for b in 0...a { normal[a * m + b] += column[a] * column[b] }
                                }
                            }
                            for a in 0..<m { for b in 0..<a { normal[b * m + a] = normal[a * m + b] } }
                            for a in 0..<m { normal[a * m + a] += damping[r] * max(normal[a * m + a], 1e-9) + 1e-12 }
                            steps[position] = Self.solve(normal, gradient.map { -$0 }, size: m)
                        }
                    }
                    var trial = f
                    for (position, r) in active.enumerated() {
                        guard let step = steps[position] else { continue }
                        for (a, index) in free.enumerated() {
                            let moved = f[r][index] + step[a]
                            trial[r][index] = index == 4 ? atan2(sin(moved), cos(moved)) : max(-3, min(3, moved))
                        }
                    }
                    let tried = predict(trial, active)
                    let trialCosts = costsOf(tried, active)
                    for (position, r) in active.enumerated() {
                        guard steps[position] != nil else { stopped[r] = true; continue }
                        let trialCost = trialCosts[position]
                        if trialCost < costs[r] {
                            if costs[r] - trialCost <= 1e-9 * costs[r] { stopped[r] = true }
                            f[r] = trial[r]
                            costs[r] = trialCost
                            for i in 0..<size { current[r * size + i] = tried[position * size + i] }
                            damping[r] = max(1e-9, damping[r] / 3)
                        } else {
                            damping[r] *= 4
                            if damping[r] > 1e8 { stopped[r] = true }
                        }
                    }
                }
                return (f, costs)
            }
            var best: (f: [[Double]], cost: [Double])
            if let from {
                best = refine((0..<k).map { from[chunkStart + $0] }, iterations)
            } else {
                // The hue turn between the histograms starts η (the fit cannot cross the circle).
                let hueStart = (0..<k).map { r -> Double in
                    guard colour && free.contains(4), let reference = Self.hueHistogram(referenceImages[r], plane: plane),
                          let own = Self.hueHistogram(Array(target[(r * size)..<((r + 1) * size)]), plane: plane) else { return 0 }
                    return Double(Self.hueTurn(of: own, from: reference))
                }
                let identity = hueStart.map { [0, 0, 0, 0, $0] }
                if startIterations > 0 && !starts.isEmpty {
                    // Every start's cost as it stands; `screenedStarts` iterations from each row's
                    // nearest few, then `iterations` from the best of them.
                    let candidates = [identity] + starts.map { s in hueStart.map { [s[0], s[1], s[2], s[3], $0] } }
                    let standing = candidates.map { costsOf(predict($0, Array(0..<k)), Array(0..<k)) }
                    let ranked = (0..<k).map { r in candidates.indices.sorted { standing[$0][r] < standing[$1][r] } }
                    best = (identity, [Double](repeating: .infinity, count: k))
                    for place in 0..<min(Self.screenedStarts, candidates.count) {
                        let tried = refine((0..<k).map { candidates[ranked[$0][place]][$0] }, startIterations)
                        for r in 0..<k where tried.cost[r] < best.cost[r] { (best.f[r], best.cost[r]) = (tried.f[r], tried.cost[r]) }
                    }
                    best = refine(best.f, iterations)
                } else {
                    best = refine(identity, iterations)
                }
            }
            for r in 0..<k {
                let values = (0..<size).map { Double(target[r * size + $0]) }, weights = (0..<size).map { Double(weight[r * size + $0]) }
                let counted = weights.reduce(0, +)
                let mean = zip(values, weights).reduce(0.0) { $0 + $1.0 * $1.1 } / max(1, counted)
                let total = zip(values, weights).reduce(0.0) { $0 + $1.1 * ($1.0 - mean) * ($1.0 - mean) }
                results.append((best.f[r], total > 0 ? 1 - best.cost[r] / total : (best.cost[r] < 1e-12 ? 1 : 0)))
            }
            chunkStart += k
        }
        return results
    }
}
