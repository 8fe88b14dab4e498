#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

// Neurons are processed in chunks of C: for each chunk the T steps run in order and the inner
// loop over the chunk's neurons is contiguous and branch-free, so the compiler vectorises it.
constexpr int64_t C = 512;

// KIND: 0 IF, 1 LIF decay_input, 2 LIF without input decay (same operation order as neuron_spec.charge)
template <typename T, int KIND>
static inline T charge(T vv, T x, T tau, T vr) {
  return KIND == 0 ? vv + x : (KIND == 1 ? vv + (x - (vv - vr)) / tau : (vv - (vv - vr) / tau) + x);
}

template <typename T, bool HARD>
static inline T reset(T h, bool f, T vth, T vr) { return f ? (HARD ? vr : h - vth) : h; }

template <typename T, int KIND, bool HARD, bool KEEP>
static void fwd_impl(const T* xp, T* op, bool* sp, T* hp, int64_t Tn, int64_t N, int64_t xs, T tau, T vth, T vr) {
  at::parallel_for(0, (N + C - 1) / C, 1, [&](int64_t cb, int64_t ce) {
    T v[C];
    for (int64_t c = cb; c < ce; ++c) {
      const int64_t n0 = c * C, len = std::min(C, N - n0);
      for (int64_t j = 0; j < len; ++j) v[j] = vr;
      for (int64_t t = 0; t < Tn; ++t) {
        const int64_t o = t * N + n0;
        const T* xt = xp + t * xs + n0; T* ot = op + o;
        bool* st = KEEP ? sp + o : nullptr; T* ht = KEEP ? hp + o : nullptr;  // only backward needs h, s
        for (int64_t j = 0; j < len; ++j) {
          const T h = charge<T, KIND>(v[j], xt[j], tau, vr);
          const bool f = h >= vth;
          ot[j] = f ? T(1) : T(0);
          if (KEEP) { st[j] = f; ht[j] = h; }
          v[j] = reset<T, HARD>(h, f, vth, vr);
        }
      }
    }
  });
}

template <typename T>
static void fwd_dispatch(int64_t kind, bool hard, bool keep, const T* xp, T* op, bool* sp, T* hp, int64_t Tn,
                         int64_t N, int64_t xs, T tau, T vth, T vr) {
  auto go = [&](auto K, auto H, auto KP) { fwd_impl<T, decltype(K)::value, decltype(H)::value, decltype(KP)::value>(xp, op, sp, hp, Tn, N, xs, tau, vth, vr); };
  using I0 = std::integral_constant<int, 0>; using I1 = std::integral_constant<int, 1>; using I2 = std::integral_constant<int, 2>;
  using BT = std::true_type; using BF = std::false_type;
  auto by_kind = [&](auto H, auto KP) { if (kind == 0) go(I0{}, H, KP); else if (kind == 1) go(I1{}, H, KP); else go(I2{}, H, KP); };
  if (hard) { if (keep) by_kind(BT{}, BT{}); else by_kind(BT{}, BF{}); }
  else { if (keep) by_kind(BF{}, BT{}); else by_kind(BF{}, BF{}); }
}

// static_T > 0: x is one frame [...] fed at each of static_T steps (direct encoding), outputs [static_T, ...].
std::vector<torch::Tensor> lif_forward(torch::Tensor x, int64_t kind, double tau, double vth, double vr,
                                       bool hard, bool keep_h, int64_t static_T) {
  auto X = x.contiguous();
  const int64_t Tn = static_T > 0 ? static_T : X.size(0);
  const int64_t N = static_T > 0 ? X.numel() : X.numel() / Tn;
  const int64_t xs = static_T > 0 ? 0 : N;
  auto sizes = X.sizes().vec();
  if (static_T > 0) sizes.insert(sizes.begin(), static_T);
  auto out = torch::empty(sizes, X.options());
  auto s = keep_h ? torch::empty(sizes, X.options().dtype(torch::kBool)) : torch::empty({0}, X.options().dtype(torch::kBool));
  auto h = keep_h ? torch::empty(sizes, X.options()) : torch::empty({0}, X.options());
  AT_DISPATCH_FLOATING_TYPES(X.scalar_type(), "lif_forward", [&] {
    using T = scalar_t;
    const T* xp = X.data_ptr<T>(); T* op = out.data_ptr<T>(); bool* sp = keep_h ? s.data_ptr<bool>() : nullptr;
    T* hp = keep_h ? h.data_ptr<T>() : nullptr;
    fwd_dispatch<T>(kind, hard, keep_h, xp, op, sp, hp, Tn, N, xs, (T)tau, (T)vth, (T)vr);
  });
  return {out, h, s};
}

// SUR: 0 atan, 1 sigmoid, 2 triangle
template <typename T, int SUR>
static inline T surrogate_grad(T alpha, T u) {
  if (SUR == 0) { const T a = (T)M_PI / 2 * alpha * u; return alpha / 2 / (1 + a * a); }
  if (SUR == 1) { const T sg = 1 / (1 + std::exp(-alpha * u)); return alpha * sg * (1 - sg); }
  const T r = 1 - alpha * std::abs(u);
  return r > 0 ? alpha * r : (T)0;
}

// dL/dh_t from dL/ds_t (gs), dL/dv_t carried back from step t+1 (g), h_t and the spike s_t.
template <typename T, bool HARD, bool DETACH, int SUR>
static inline T grad_h(T gs, T g, T h, bool s, T vth, T vr, T alpha) {
  const T sg = surrogate_grad<T, SUR>(alpha, h - vth);
  T gh = gs * sg;
  if (HARD) {
    gh += s ? (T)0 : g;
    if (!DETACH) gh += g * (vr - h) * sg;
  } else {
    gh += g;
    if (!DETACH) gh -= g * (vth * sg);
  }
  return gh;
}

// (dh/dv, dh/dx) of the charge for KIND kind.
template <typename T>
static inline std::pair<T, T> charge_derivatives(int64_t kind, double tau) {
  const T k = kind == 0 ? (T)0 : (T)(1.0 / tau);
  return {1 - k, kind == 1 ? k : (T)1};
}

template <typename T, bool HARD, bool DETACH, int SUR>
static void bwd_impl(const T* gp, const T* hp, const bool* sp, T* xp, int64_t Tn, int64_t N, bool acc,
                     T dhdv, T dhdx, T vth, T vr, T alpha) {
  at::parallel_for(0, (N + C - 1) / C, 1, [&](int64_t cb, int64_t ce) {
    T gv[C];
    for (int64_t c = cb; c < ce; ++c) {
      const int64_t n0 = c * C, len = std::min(C, N - n0);
      for (int64_t j = 0; j < len; ++j) gv[j] = 0;
      for (int64_t t = Tn - 1; t >= 0; --t) {
        const int64_t o = t * N + n0;
        const T* gt = gp + o; const T* ht = hp + o; const bool* st = sp + o;
        // acc (static input): one gradient frame, summed over t; else one frame per step.
        T* xt = acc ? xp + n0 : xp + o;
        const bool add = acc && t < Tn - 1;  // loop-invariant: never reads the uninitialised frame
        for (int64_t j = 0; j < len; ++j) {
          const T gh = grad_h<T, HARD, DETACH, SUR>(gt[j], gv[j], ht[j], st[j], vth, vr, alpha);
          xt[j] = add ? xt[j] + gh * dhdx : gh * dhdx;
          gv[j] = gh * dhdv;
        }
      }
    }
  });
}

template <typename T>
static void bwd_dispatch(bool hard, bool detach, int64_t sur, const T* gp, const T* hp, const bool* sp, T* xp,
                         int64_t Tn, int64_t N, bool acc, T dhdv, T dhdx, T vth, T vr, T alpha) {
  auto go = [&](auto H, auto D, auto S) { bwd_impl<T, decltype(H)::value, decltype(D)::value, decltype(S)::value>(gp, hp, sp, xp, Tn, N, acc, dhdv, dhdx, vth, vr, alpha); };
  using I0 = std::integral_constant<int, 0>; using I1 = std::integral_constant<int, 1>; using I2 = std::integral_constant<int, 2>;
  using BT = std::true_type; using BF = std::false_type;
  auto by_sur = [&](auto H, auto D) { if (sur == 0) go(H, D, I0{}); else if (sur == 1) go(H, D, I1{}); else go(H, D, I2{}); };
  if (hard) { if (detach) by_sur(BT{}, BT{}); else by_sur(BT{}, BF{}); }
  else { if (detach) by_sur(BF{}, BT{}); else by_sur(BF{}, BF{}); }
}

torch::Tensor lif_backward(torch::Tensor grad_out, torch::Tensor h, torch::Tensor s, int64_t kind, double tau,
                           double vth, double vr, bool hard, bool detach, int64_t sur, double alpha, bool static_input) {
  auto G = grad_out.contiguous();
  const int64_t Tn = h.size(0);
  const int64_t N = h.numel() / Tn;
  auto gx = static_input ? torch::empty(h.sizes().slice(1), h.options()) : torch::empty_like(h);
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "lif_backward", [&] {
    using T = scalar_t;
    const T* gp = G.data_ptr<T>(); const T* hp = h.data_ptr<T>(); const bool* sp = s.data_ptr<bool>();
    T* xp = gx.data_ptr<T>();
    const std::pair<T, T> d = charge_derivatives<T>(kind, tau);
    const T dhdv = d.first, dhdx = d.second;
    bwd_dispatch<T>(hard, detach, sur, gp, hp, sp, xp, Tn, N, static_input, dhdv, dhdx, (T)vth, (T)vr, (T)alpha);
  });
  return gx;
}

// Memory-lean backward: for each block of C neurons, re-run the forward recurrence into a
// thread-local [T, C] buffer, then the reverse pass over it. Only x, grad_out and dL/dx touch
// memory: no [T, N] h or spikes are stored anywhere. Same operations in the same order as
// fwd_impl and bwd_impl, so the gradient is bit-identical to the keep-h path.
template <typename T, int KIND, bool HARD, bool DETACH, int SUR>
static void recompute_bwd_impl(const T* xp, const T* gp, T* gxp, int64_t Tn, int64_t N, int64_t xs, bool acc,
                               T tau, T vth, T vr, T dhdv, T dhdx, T alpha) {
  at::parallel_for(0, (N + C - 1) / C, 1, [&](int64_t cb, int64_t ce) {
    std::vector<T> hbuf(Tn * C);
    std::vector<uint8_t> sbuf(Tn * C);
    T v[C], gv[C];
    for (int64_t c = cb; c < ce; ++c) {
      const int64_t n0 = c * C, len = std::min(C, N - n0);
      for (int64_t j = 0; j < len; ++j) v[j] = vr;
      for (int64_t t = 0; t < Tn; ++t) {
        const T* xt = xp + t * xs + n0; T* ht = hbuf.data() + t * C; uint8_t* st = sbuf.data() + t * C;
        for (int64_t j = 0; j < len; ++j) {
          const T h = charge<T, KIND>(v[j], xt[j], tau, vr);
          const bool f = h >= vth;
          st[j] = f; ht[j] = h;
          v[j] = reset<T, HARD>(h, f, vth, vr);
        }
      }
      for (int64_t j = 0; j < len; ++j) gv[j] = 0;
      for (int64_t t = Tn - 1; t >= 0; --t) {
        const T* gt = gp + t * N + n0; const T* ht = hbuf.data() + t * C; const uint8_t* st = sbuf.data() + t * C;
        T* xt = acc ? gxp + n0 : gxp + t * N + n0;
        const bool add = acc && t < Tn - 1;
        for (int64_t j = 0; j < len; ++j) {
          const T gh = grad_h<T, HARD, DETACH, SUR>(gt[j], gv[j], ht[j], st[j], vth, vr, alpha);
          xt[j] = add ? xt[j] + gh * dhdx : gh * dhdx;
          gv[j] = gh * dhdv;
        }
      }
    }
  });
}

// static_T > 0: x is one frame fed at each of static_T steps; dL/dx is then summed over steps.
torch::Tensor lif_recompute_backward(torch::Tensor grad_out, torch::Tensor x, int64_t kind, double tau, double vth,
                                     double vr, bool hard, bool detach, int64_t sur, double alpha, int64_t static_T) {
  auto G = grad_out.contiguous();
  auto X = x.contiguous();
  const int64_t Tn = G.size(0);
  const int64_t N = G.numel() / Tn;
  const int64_t xs = static_T > 0 ? 0 : N;
  auto gx = static_T > 0 ? torch::empty_like(X) : torch::empty_like(G);
  AT_DISPATCH_FLOATING_TYPES(G.scalar_type(), "lif_recompute_backward", [&] {
    using T = scalar_t;
    const std::pair<T, T> d = charge_derivatives<T>(kind, tau);
    const T dhdv = d.first, dhdx = d.second;
    const T* xp = X.data_ptr<T>(); const T* gp = G.data_ptr<T>(); T* gxp = gx.data_ptr<T>();
    const bool acc = static_T > 0;
    auto go = [&](auto K, auto H, auto D, auto S) {
      recompute_bwd_impl<T, decltype(K)::value, decltype(H)::value, decltype(D)::value, decltype(S)::value>(
          xp, gp, gxp, Tn, N, xs, acc, (T)tau, (T)vth, (T)vr, dhdv, dhdx, (T)alpha);
    };
    using I0 = std::integral_constant<int, 0>; using I1 = std::integral_constant<int, 1>; using I2 = std::integral_constant<int, 2>;
    using BT = std::true_type; using BF = std::false_type;
    auto by_sur = [&](auto K, auto H, auto D) { if (sur == 0) go(K, H, D, I0{}); else if (sur == 1) go(K, H, D, I1{}); else go(K, H, D, I2{}); };
    auto by_det = [&](auto K, auto H) { if (detach) by_sur(K, H, BT{}); else by_sur(K, H, BF{}); };
    auto by_hard = [&](auto K) { if (hard) by_det(K, BT{}); else by_det(K, BF{}); };
    if (kind == 0) by_hard(I0{}); else if (kind == 1) by_hard(I1{}); else by_hard(I2{});
  });
  return gx;
}

// SLTT (spatial learning through time): the backward pass keeps no temporal route, so it needs
// only h_t at the steps it trains: slot[t] >= 0 names the row of hk that keeps h_t, -1 a step
// whose gradient is dropped (SLTT-K). No spikes and no other step's membrane are stored.
// Same charge and reset as fwd_impl, so the spikes are bit-identical.
template <typename T, int KIND, bool HARD>
static void fwd_sltt_impl(const T* xp, T* op, T* hkp, const int64_t* slot, int64_t Tn, int64_t N, int64_t xs,
                          T tau, T vth, T vr) {
  at::parallel_for(0, (N + C - 1) / C, 1, [&](int64_t cb, int64_t ce) {
    T v[C];
    for (int64_t c = cb; c < ce; ++c) {
      const int64_t n0 = c * C, len = std::min(C, N - n0);
      for (int64_t j = 0; j < len; ++j) v[j] = vr;
      for (int64_t t = 0; t < Tn; ++t) {
        const T* xt = xp + t * xs + n0; T* ot = op + t * N + n0;
        T* ht = slot[t] >= 0 ? hkp + slot[t] * N + n0 : nullptr;
        if (ht) {
          for (int64_t j = 0; j < len; ++j) {
            const T h = charge<T, KIND>(v[j], xt[j], tau, vr);
            const bool f = h >= vth;
            ot[j] = f ? T(1) : T(0);
            ht[j] = h;
            v[j] = reset<T, HARD>(h, f, vth, vr);
          }
        } else {
          for (int64_t j = 0; j < len; ++j) {
            const T h = charge<T, KIND>(v[j], xt[j], tau, vr);
            const bool f = h >= vth;
            ot[j] = f ? T(1) : T(0);
            v[j] = reset<T, HARD>(h, f, vth, vr);
          }
        }
      }
    }
  });
}

// slot: int64 [T] as above, K rows of h kept; static_T > 0 as in lif_forward. Returns {spikes, hk [K, ...]}.
std::vector<torch::Tensor> lif_forward_sltt(torch::Tensor x, int64_t kind, double tau, double vth, double vr,
                                            bool hard, torch::Tensor slot, int64_t K, int64_t static_T) {
  auto X = x.contiguous();
  auto S = slot.contiguous();
  const int64_t Tn = static_T > 0 ? static_T : X.size(0);
  TORCH_CHECK(S.numel() == Tn && S.scalar_type() == torch::kLong, "slot must be int64 [T]");
  const int64_t N = static_T > 0 ? X.numel() : X.numel() / Tn;
  const int64_t xs = static_T > 0 ? 0 : N;
  auto sizes = X.sizes().vec();
  if (static_T > 0) sizes.insert(sizes.begin(), static_T);
  auto out = torch::empty(sizes, X.options());
  auto ksizes = sizes; ksizes[0] = K;
  auto hk = torch::empty(ksizes, X.options());
  AT_DISPATCH_FLOATING_TYPES(X.scalar_type(), "lif_forward_sltt", [&] {
    using T = scalar_t;
    const T* xp = X.data_ptr<T>(); T* op = out.data_ptr<T>(); T* hp = hk.data_ptr<T>();
    const int64_t* sp = S.data_ptr<int64_t>();
    auto go = [&](auto KD, auto H) { fwd_sltt_impl<T, decltype(KD)::value, decltype(H)::value>(xp, op, hp, sp, Tn, N, xs, (T)tau, (T)vth, (T)vr); };
    using I0 = std::integral_constant<int, 0>; using I1 = std::integral_constant<int, 1>; using I2 = std::integral_constant<int, 2>;
    using BT = std::true_type; using BF = std::false_type;
    auto by_kind = [&](auto H) { if (kind == 0) go(I0{}, H); else if (kind == 1) go(I1{}, H); else go(I2{}, H); };
    if (hard) by_kind(BT{}); else by_kind(BF{});
  });
  return {out, hk};
}

// SLTT backward: dL/dx_t = dh/dx sg(h_t - vth) dL/ds_t at the kept steps, 0 at the others; no
// recurrence. acc (static input): one gradient frame, summed over the kept steps.
template <typename T, int SUR>
static void bwd_sltt_impl(const T* gp, const T* hkp, const int64_t* slot, T* xp, int64_t Tn, int64_t N, bool acc,
                          T dhdx, T vth, T alpha) {
  at::parallel_for(0, (N + C - 1) / C, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const int64_t n0 = c * C, len = std::min(C, N - n0);
      if (acc) for (int64_t j = 0; j < len; ++j) xp[n0 + j] = 0;
      for (int64_t t = 0; t < Tn; ++t) {
        const int64_t k = slot[t];
        T* xt = acc ? xp + n0 : xp + t * N + n0;
        if (k < 0) {
          if (!acc) for (int64_t j = 0; j < len; ++j) xt[j] = 0;
          continue;
        }
        const T* gt = gp + t * N + n0; const T* ht = hkp + k * N + n0;
        for (int64_t j = 0; j < len; ++j) {
          const T gh = gt[j] * surrogate_grad<T, SUR>(alpha, ht[j] - vth);
          xt[j] = acc ? xt[j] + gh * dhdx : gh * dhdx;
        }
      }
    }
  });
}

torch::Tensor lif_backward_sltt(torch::Tensor grad_out, torch::Tensor hk, torch::Tensor slot, int64_t kind, double tau,
                                double vth, int64_t sur, double alpha, bool static_input) {
  auto G = grad_out.contiguous();
  auto S = slot.contiguous();
  const int64_t Tn = G.size(0);
  TORCH_CHECK(S.numel() == Tn && S.scalar_type() == torch::kLong, "slot must be int64 [T]");
  const int64_t N = G.numel() / Tn;
  auto gx = static_input ? torch::empty(G.sizes().slice(1), G.options()) : torch::empty_like(G);
  AT_DISPATCH_FLOATING_TYPES(G.scalar_type(), "lif_backward_sltt", [&] {
    using T = scalar_t;
    const std::pair<T, T> d = charge_derivatives<T>(kind, tau);
    const T* gp = G.data_ptr<T>(); const T* hp = hk.data_ptr<T>(); const int64_t* sp = S.data_ptr<int64_t>();
    T* xp = gx.data_ptr<T>();
    if (sur == 0) bwd_sltt_impl<T, 0>(gp, hp, sp, xp, Tn, N, static_input, d.second, (T)vth, (T)alpha);
    else if (sur == 1) bwd_sltt_impl<T, 1>(gp, hp, sp, xp, Tn, N, static_input, d.second, (T)vth, (T)alpha);
    else bwd_sltt_impl<T, 2>(gp, hp, sp, xp, Tn, N, static_input, d.second, (T)vth, (T)alpha);
  });
  return gx;
}

// 2x2, stride-2 max pooling of [P, H, W] planes (H, W even) with PyTorch's CPU rule: the first
// maximum in row-major window order wins (NaN wins), its position kept as a uint8 code 0..3
// instead of int64 indices. One pass in, one quarter-size pass out.
template <typename T>
static void pool_fwd_impl(const T* xp, T* op, uint8_t* cp, int64_t P, int64_t H, int64_t W) {
  const int64_t Ho = H / 2, Wo = W / 2;
  at::parallel_for(0, P, 16, [&](int64_t pb, int64_t pe) {
    for (int64_t p = pb; p < pe; ++p) {
      const T* x = xp + p * H * W; T* o = op + p * Ho * Wo; uint8_t* c = cp + p * Ho * Wo;
      for (int64_t i = 0; i < Ho; ++i) {
        const T* r0 = x + 2 * i * W; const T* r1 = r0 + W;
        T* oi = o + i * Wo; uint8_t* ci = c + i * Wo;
        for (int64_t j = 0; j < Wo; ++j) {  // branch-free so the compiler can vectorise it
          const T a = r0[2 * j], b = r0[2 * j + 1], e = r1[2 * j], d = r1[2 * j + 1];
          T m = a; uint8_t k = 0;
          bool u = (b > m) | (b != b); m = u ? b : m; k = u ? 1 : k;
          u = (e > m) | (e != e); m = u ? e : m; k = u ? 2 : k;
          u = (d > m) | (d != d); m = u ? d : m; k = u ? 3 : k;
          oi[j] = m; ci[j] = k;
        }
      }
    }
  });
}

template <typename T>
static void pool_bwd_impl(const T* gp, const uint8_t* cp, T* xp, int64_t P, int64_t H, int64_t W) {
  const int64_t Ho = H / 2, Wo = W / 2;
  at::parallel_for(0, P, 16, [&](int64_t pb, int64_t pe) {
    for (int64_t p = pb; p < pe; ++p) {
      const T* g = gp + p * Ho * Wo; const uint8_t* c = cp + p * Ho * Wo; T* x = xp + p * H * W;
      for (int64_t i = 0; i < Ho; ++i) {
        T* r0 = x + 2 * i * W; T* r1 = r0 + W;
        const T* gi = g + i * Wo; const uint8_t* ci = c + i * Wo;
        std::fill(r0, r1 + W, (T)0);  // zero the two rows while they are in cache, then scatter
        for (int64_t j = 0; j < Wo; ++j) {
          const uint8_t k = ci[j];
          (k & 2 ? r1 : r0)[2 * j + (k & 1)] = gi[j];
        }
      }
    }
  });
}

std::vector<torch::Tensor> maxpool2x2_forward(torch::Tensor x) {
  auto X = x.contiguous();
  const int64_t H = X.size(-2), W = X.size(-1), P = X.numel() / (H * W);
  auto sizes = X.sizes().vec();
  sizes[sizes.size() - 2] = H / 2; sizes[sizes.size() - 1] = W / 2;
  auto out = torch::empty(sizes, X.options());
  auto code = torch::empty(sizes, X.options().dtype(torch::kUInt8));
  AT_DISPATCH_FLOATING_TYPES(X.scalar_type(), "maxpool2x2_forward", [&] {
    pool_fwd_impl<scalar_t>(X.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), code.data_ptr<uint8_t>(), P, H, W);
  });
  return {out, code};
}

torch::Tensor maxpool2x2_backward(torch::Tensor grad_out, torch::Tensor code, std::vector<int64_t> in_sizes) {
  auto G = grad_out.contiguous();
  const int64_t H = in_sizes[in_sizes.size() - 2], W = in_sizes[in_sizes.size() - 1];
  auto gx = torch::empty(in_sizes, G.options());
  const int64_t P = gx.numel() / (H * W);
  AT_DISPATCH_FLOATING_TYPES(G.scalar_type(), "maxpool2x2_backward", [&] {
    pool_bwd_impl<scalar_t>(G.data_ptr<scalar_t>(), code.data_ptr<uint8_t>(), gx.data_ptr<scalar_t>(), P, H, W);
  });
  return gx;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lif_forward", &lif_forward, "fused multi-step IF/LIF forward");
  m.def("lif_backward", &lif_backward, "fused multi-step IF/LIF backward");
  m.def("lif_recompute_backward", &lif_recompute_backward, "IF/LIF backward recomputing the forward per neuron block");
  m.def("lif_forward_sltt", &lif_forward_sltt, "IF/LIF forward keeping h only at the SLTT-trained steps");
  m.def("lif_backward_sltt", &lif_backward_sltt, "IF/LIF SLTT backward: no temporal route");
  m.def("maxpool2x2_forward", &maxpool2x2_forward, "2x2 stride-2 max pooling with uint8 argmax codes");
  m.def("maxpool2x2_backward", &maxpool2x2_backward, "gradient of maxpool2x2_forward");
}
