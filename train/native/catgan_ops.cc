// catgan's libtensorflow op library, one CPU kernel each way for two blocks of the models:
// instance norm, optionally followed by ReLU (the GANs), and group norm with scale, shift and
// SiLU (the DDPM's U-Net). train/_kernels_tensorflow.ts registers them as tfjs kernels for the
// tensorflow backend; models/layers.ts and models/ddpm.ts run them where registered.
//
// Built by scripts/setup_tensorflow.ts with g++ against the TensorFlow wheel's C++ headers and
// libtensorflow_framework, the same library tfjs-node's addon loaded, so loading this file
// registers the ops where tfjs-node's eager calls find them by name. It is also a Node-API module
// with no exports (the two functions at the end), so `require` loads it in Node, Deno and Bun.
//
// Layout is NHWC. Instance norm normalises each image over its h * w positions per channel, as
// PyTorch's nn.InstanceNorm2d with affine=False: y = (x - mean) * rstd with
// rstd = 1 / sqrt(var + epsilon) and the biased variance. Where the library is not loaded the
// same functions run as tfjs ops (models/layers.ts, models/ddpm.ts); tests/models/layers_test.ts
// and tests/models/ddpm_test.ts check the kernels against direct loops and those ops.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/framework/tensor.h"

namespace catgan {
namespace {

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;
using tensorflow::shape_inference::InferenceContext;
using tensorflow::shape_inference::ShapeHandle;

absl::Status NormShapes(InferenceContext* c) {
  ShapeHandle x;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &x));
  c->set_output(0, x);
  ShapeHandle stats = c->MakeShape({c->Dim(x, 0), c->Dim(x, 3)});
  c->set_output(1, stats);
  c->set_output(2, stats);
  return absl::OkStatus();
}

absl::Status GradShapes(InferenceContext* c) {
  c->set_output(0, c->input(1));
  return absl::OkStatus();
}

// mean and rstd are [n, c]: what the gradient needs besides x, so y need not be kept.
REGISTER_OP("CatganInstanceNorm")
    .Input("x: float")
    .Output("y: float")
    .Output("mean: float")
    .Output("rstd: float")
    .Attr("epsilon: float = 0.00001")
    .Attr("relu: bool = false")
    .SetShapeFn(NormShapes);

REGISTER_OP("CatganInstanceNormGrad")
    .Input("dy: float")
    .Input("x: float")
    .Input("mean: float")
    .Input("rstd: float")
    .Output("dx: float")
    .Attr("relu: bool = false")
    .SetShapeFn(GradShapes);

// The sizes of one NHWC tensor seen as n images of `positions` rows of `channels` floats.
struct Planes {
  int64_t images;
  int64_t positions;
  int64_t channels;
};

Planes PlanesOf(const Tensor& x) {
  return {x.dim_size(0), x.dim_size(1) * x.dim_size(2), x.dim_size(3)};
}

// Runs work(first, last) over ranges of images on libtensorflow's intra-op thread pool, the one
// TF_NUM_INTRAOP_THREADS sizes; cost_per_value, in rough cycles per value of x, tells the pool
// how finely to split.
void ForImages(OpKernelContext* ctx, const Planes& p, int64_t cost_per_value,
               const std::function<void(int64_t, int64_t)>& work) {
  auto* pool = ctx->device()->tensorflow_cpu_worker_threads()->workers;
  pool->ParallelFor(p.images, p.positions * p.channels * cost_per_value, work);
}

// Copies each group's value to the group_size channels it covers.
void SpreadToChannels(const float* per_group, int64_t groups, int64_t group_size,
                      float* per_channel) {
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t k = g * group_size; k < (g + 1) * group_size; ++k) per_channel[k] = per_group[g];
  }
}

// The statistics of one image of p.positions rows of p.channels values: for each group of
// group_size adjacent channels (1 for instance norm), the mean and the reciprocal standard
// deviation over its positions and channels, with the biased variance. Written per group into
// mean and rstd, and per channel into channel_mean and channel_rstd; sum is scratch for
// p.channels floats. Two passes, the mean and then squares about it, as the tfjs ops do: the
// one-pass E[x^2] - E[x]^2 loses digits when the mean is large. The per-channel sums come first
// because that loop vectorises; they are folded into groups after.
void ImageStatistics(const float* x, const Planes& p, int64_t group_size, float epsilon,
                     float* sum, float* mean, float* rstd, float* channel_mean,
                     float* channel_rstd) {
  const int64_t groups = p.channels / group_size;
  const float count = static_cast<float>(p.positions * group_size);
  const auto group_sum = [&](int64_t g) {
    float total = 0.f;
    for (int64_t k = g * group_size; k < (g + 1) * group_size; ++k) total += sum[k];
    return total;
  };

  std::fill(sum, sum + p.channels, 0.f);
  for (int64_t q = 0; q < p.positions; ++q) {
    const float* row = x + q * p.channels;
    for (int64_t k = 0; k < p.channels; ++k) sum[k] += row[k];
  }
  for (int64_t g = 0; g < groups; ++g) mean[g] = group_sum(g) / count;
  SpreadToChannels(mean, groups, group_size, channel_mean);

  std::fill(sum, sum + p.channels, 0.f);
  for (int64_t q = 0; q < p.positions; ++q) {
    const float* row = x + q * p.channels;
    for (int64_t k = 0; k < p.channels; ++k) {
      const float d = row[k] - channel_mean[k];
      sum[k] += d * d;
    }
  }
  for (int64_t g = 0; g < groups; ++g) rstd[g] = 1.f / std::sqrt(group_sum(g) / count + epsilon);
  SpreadToChannels(rstd, groups, group_size, channel_rstd);
}

class InstanceNormOp : public OpKernel {
 public:
  explicit InstanceNormOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("epsilon", &epsilon_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("relu", &relu_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    OP_REQUIRES(ctx, x.dims() == 4,
                absl::InvalidArgumentError("CatganInstanceNorm: x must be [n, h, w, c]"));
    const Planes p = PlanesOf(x);
    Tensor* y = nullptr;
    Tensor* mean = nullptr;
    Tensor* rstd = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &y));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({p.images, p.channels}), &mean));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({p.images, p.channels}), &rstd));
    if (x.NumElements() == 0) {
      // No positions (h or w is 0): defined statistics, not whatever the allocator held.
      mean->flat<float>().setZero();
      rstd->flat<float>().setZero();
      return;
    }

    const float* xs = x.flat<float>().data();
    float* ys = y->flat<float>().data();
    float* means = mean->flat<float>().data();
    float* rstds = rstd->flat<float>().data();
    const float epsilon = epsilon_;
    const bool relu = relu_;
    ForImages(ctx, p, 6, [=](int64_t first, int64_t last) {
      std::vector<float> sum(p.channels);
      std::vector<float> channel_mean(p.channels);
      std::vector<float> channel_rstd(p.channels);
      const float* m = channel_mean.data();
      const float* r = channel_rstd.data();
      for (int64_t i = first; i < last; ++i) {
        const float* xi = xs + i * p.positions * p.channels;
        float* yi = ys + i * p.positions * p.channels;
        ImageStatistics(xi, p, 1, epsilon, sum.data(), means + i * p.channels,
                        rstds + i * p.channels, channel_mean.data(), channel_rstd.data());

        for (int64_t q = 0; q < p.positions; ++q) {
          const float* row = xi + q * p.channels;
          float* out = yi + q * p.channels;
          if (relu) {
            for (int64_t k = 0; k < p.channels; ++k) out[k] = std::max((row[k] - m[k]) * r[k], 0.f);
          } else {
            for (int64_t k = 0; k < p.channels; ++k) out[k] = (row[k] - m[k]) * r[k];
          }
        }
      }
    });
  }

 private:
  float epsilon_;
  bool relu_;
};

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) over each image's positions, where
// xhat = (x - mean) * rstd and g is dy, or dy where xhat > 0 and 0 elsewhere after a ReLU
// (ReLU's gradient at 0 is 0, as in tfjs and libtensorflow).
class InstanceNormGradOp : public OpKernel {
 public:
  explicit InstanceNormGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("relu", &relu_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& dy = ctx->input(0);
    const Tensor& x = ctx->input(1);
    const Tensor& mean = ctx->input(2);
    const Tensor& rstd = ctx->input(3);
    OP_REQUIRES(ctx, x.dims() == 4 && dy.shape() == x.shape(),
                absl::InvalidArgumentError("CatganInstanceNormGrad: dy and x must be one shape"));
    const Planes p = PlanesOf(x);
    OP_REQUIRES(ctx,
                mean.NumElements() == p.images * p.channels &&
                    rstd.NumElements() == p.images * p.channels,
                absl::InvalidArgumentError("CatganInstanceNormGrad: mean and rstd must be [n, c]"));
    Tensor* dx = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &dx));
    if (x.NumElements() == 0) return;

    const float* dys = dy.flat<float>().data();
    const float* xs = x.flat<float>().data();
    const float* means = mean.flat<float>().data();
    const float* rstds = rstd.flat<float>().data();
    float* dxs = dx->flat<float>().data();
    // After a ReLU, g = dy where xhat > 0 and 0 elsewhere: a multiply by 1 or 0 (a select the
    // compiler vectorises) rather than a branch per value; without one, by 1 everywhere.
    const float keep_negative = relu_ ? 0.f : 1.f;
    const float count = static_cast<float>(p.positions);
    ForImages(ctx, p, 8, [=](int64_t first, int64_t last) {
      std::vector<float> mean_g(p.channels);
      std::vector<float> mean_g_xhat(p.channels);
      for (int64_t i = first; i < last; ++i) {
        const int64_t offset = i * p.positions * p.channels;
        const float* m = means + i * p.channels;
        const float* r = rstds + i * p.channels;

        std::fill(mean_g.begin(), mean_g.end(), 0.f);
        std::fill(mean_g_xhat.begin(), mean_g_xhat.end(), 0.f);
        for (int64_t q = 0; q < p.positions; ++q) {
          const float* row = xs + offset + q * p.channels;
          const float* d = dys + offset + q * p.channels;
          for (int64_t k = 0; k < p.channels; ++k) {
            const float xhat = (row[k] - m[k]) * r[k];
            const float g = d[k] * std::max(static_cast<float>(xhat > 0.f), keep_negative);
            mean_g[k] += g;
            mean_g_xhat[k] += g * xhat;
          }
        }
        for (int64_t k = 0; k < p.channels; ++k) {
          mean_g[k] /= count;
          mean_g_xhat[k] /= count;
        }

        for (int64_t q = 0; q < p.positions; ++q) {
          const float* row = xs + offset + q * p.channels;
          const float* d = dys + offset + q * p.channels;
          float* out = dxs + offset + q * p.channels;
          for (int64_t k = 0; k < p.channels; ++k) {
            const float xhat = (row[k] - m[k]) * r[k];
            const float g = d[k] * std::max(static_cast<float>(xhat > 0.f), keep_negative);
            out[k] = r[k] * (g - mean_g[k] - xhat * mean_g_xhat[k]);
          }
        }
      }
    });
  }

 private:
  bool relu_;
};

// Group norm (Wu and He 2018) with a per-channel scale and shift, then SiLU, as the DDPM's
// U-Net applies it before every conv of a residual block: groups of `group_size` adjacent
// channels share statistics over h, w and the group's channels,
//   y = xhat * gamma + beta,  out = y * sigmoid(y),
// with PyTorch's eps and biased variance. mean and rstd are [n, c / group_size].
REGISTER_OP("CatganGroupNormSilu")
    .Input("x: float")
    .Input("gamma: float")
    .Input("beta: float")
    .Output("out: float")
    .Output("mean: float")
    .Output("rstd: float")
    .Attr("group_size: int")
    .Attr("epsilon: float = 0.00001")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle x;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &x));
      c->set_output(0, x);
      ShapeHandle stats = c->MakeShape({c->Dim(x, 0), c->UnknownDim()});
      c->set_output(1, stats);
      c->set_output(2, stats);
      return absl::OkStatus();
    });

REGISTER_OP("CatganGroupNormSiluGrad")
    .Input("dout: float")
    .Input("x: float")
    .Input("gamma: float")
    .Input("beta: float")
    .Input("mean: float")
    .Input("rstd: float")
    .Output("dx: float")
    .Output("dgamma: float")
    .Output("dbeta: float")
    .Attr("group_size: int")
    .SetShapeFn([](InferenceContext* c) {
      c->set_output(0, c->input(1));
      c->set_output(1, c->input(2));
      c->set_output(2, c->input(3));
      return absl::OkStatus();
    });

// e^v for v in [-87, 88] (clamped there), relative error about 2e-7: Cephes' expf, written so
// g++ vectorises it on plain SSE2 (std::exp is a library call per value, which stops that; the
// clamp needs -fno-trapping-math, which setup passes):
// v = n ln2 + r with |r| <= ln2 / 2, e^r as 1 + r + r^2 P(r) with P of degree 5, and 2^n put
// into the exponent bits.
inline float ExpClamped(float v) {
  v = std::min(std::max(v, -87.f), 88.f);
  const float t = v * 1.44269504088896341f;
  const int32_t n = static_cast<int32_t>(t + std::copysign(0.5f, t));
  const float nf = static_cast<float>(n);
  const float r = v - nf * 0.693359375f + nf * 2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.f;
  const int32_t bits = (n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

inline float Sigmoid(float v) { return 1.f / (1.f + ExpClamped(-v)); }

// x must be [n, h, w, c] with c a multiple of group_size, and gamma and beta of length c.
absl::Status CheckGroupInputs(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              int64_t group_size) {
  if (x.dims() != 4 || group_size <= 0 || x.dim_size(3) % group_size != 0) {
    return absl::InvalidArgumentError(
        "CatganGroupNormSilu: x must be [n, h, w, c], c a multiple of group_size");
  }
  if (gamma.NumElements() != x.dim_size(3) || beta.NumElements() != x.dim_size(3)) {
    return absl::InvalidArgumentError("CatganGroupNormSilu: gamma and beta must be [c]");
  }
  return absl::OkStatus();
}

class GroupNormSiluOp : public OpKernel {
 public:
  explicit GroupNormSiluOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("group_size", &group_size_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("epsilon", &epsilon_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& gamma = ctx->input(1);
    const Tensor& beta = ctx->input(2);
    OP_REQUIRES_OK(ctx, CheckGroupInputs(x, gamma, beta, group_size_));
    const Planes p = PlanesOf(x);
    const int64_t groups = p.channels / group_size_;
    Tensor* out = nullptr;
    Tensor* mean = nullptr;
    Tensor* rstd = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &out));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({p.images, groups}), &mean));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({p.images, groups}), &rstd));
    if (x.NumElements() == 0) {
      mean->flat<float>().setZero();
      rstd->flat<float>().setZero();
      return;
    }

    const float* xs = x.flat<float>().data();
    const float* gammas = gamma.flat<float>().data();
    const float* betas = beta.flat<float>().data();
    float* outs = out->flat<float>().data();
    float* means = mean->flat<float>().data();
    float* rstds = rstd->flat<float>().data();
    const int64_t group_size = group_size_;
    const float epsilon = epsilon_;
    ForImages(ctx, p, 30, [=](int64_t first, int64_t last) {
      std::vector<float> sum(p.channels);
      std::vector<float> channel_mean(p.channels);
      std::vector<float> channel_rstd(p.channels);
      for (int64_t i = first; i < last; ++i) {
        const float* xi = xs + i * p.positions * p.channels;
        float* oi = outs + i * p.positions * p.channels;
        ImageStatistics(xi, p, group_size, epsilon, sum.data(), means + i * groups,
                        rstds + i * groups, channel_mean.data(), channel_rstd.data());

        for (int64_t q = 0; q < p.positions; ++q) {
          const float* row = xi + q * p.channels;
          float* o = oi + q * p.channels;
          for (int64_t k = 0; k < p.channels; ++k) {
            const float y = (row[k] - channel_mean[k]) * channel_rstd[k] * gammas[k] + betas[k];
            o[k] = y * Sigmoid(y);
          }
        }
      }
    });
  }

 private:
  int64_t group_size_;
  float epsilon_;
};

// With y = xhat * gamma + beta and s = sigmoid(y): dy = dout * s * (1 + y * (1 - s)); then
// dgamma = sum(dy * xhat), dbeta = sum(dy) over images and positions, and with g = dy * gamma,
// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), the means over the group's values.
class GroupNormSiluGradOp : public OpKernel {
 public:
  explicit GroupNormSiluGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("group_size", &group_size_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& dout = ctx->input(0);
    const Tensor& x = ctx->input(1);
    const Tensor& gamma = ctx->input(2);
    const Tensor& beta = ctx->input(3);
    OP_REQUIRES_OK(ctx, CheckGroupInputs(x, gamma, beta, group_size_));
    const Planes p = PlanesOf(x);
    const int64_t groups = p.channels / group_size_;
    OP_REQUIRES(ctx,
                dout.shape() == x.shape() && ctx->input(4).NumElements() == p.images * groups &&
                    ctx->input(5).NumElements() == p.images * groups,
                absl::InvalidArgumentError(
                    "CatganGroupNormSiluGrad: dout must be x's shape, mean and rstd [n, groups]"));
    Tensor* dx = nullptr;
    Tensor* dgamma = nullptr;
    Tensor* dbeta = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &dx));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, gamma.shape(), &dgamma));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, beta.shape(), &dbeta));
    // Each image's share of dgamma and dbeta, summed over images after the parallel part.
    Tensor partial;
    OP_REQUIRES_OK(ctx, ctx->allocate_temp(tensorflow::DT_FLOAT,
                                           TensorShape({2, p.images, p.channels}), &partial));
    float* dgammas = dgamma->flat<float>().data();
    float* dbetas = dbeta->flat<float>().data();
    std::fill(dgammas, dgammas + p.channels, 0.f);
    std::fill(dbetas, dbetas + p.channels, 0.f);
    if (x.NumElements() == 0) return;

    const float* douts = dout.flat<float>().data();
    const float* xs = x.flat<float>().data();
    const float* gammas = gamma.flat<float>().data();
    const float* betas = beta.flat<float>().data();
    const float* means = ctx->input(4).flat<float>().data();
    const float* rstds = ctx->input(5).flat<float>().data();
    float* dxs = dx->flat<float>().data();
    float* partial_gamma = partial.flat<float>().data();
    float* partial_beta = partial_gamma + p.images * p.channels;
    const int64_t group_size = group_size_;
    const float count = static_cast<float>(p.positions * group_size);
    ForImages(ctx, p, 40, [=](int64_t first, int64_t last) {
      std::vector<float> channel_mean(p.channels);
      std::vector<float> channel_rstd(p.channels);
      std::vector<float> mean_g(p.channels);
      std::vector<float> mean_g_xhat(p.channels);
      // dy of one image, kept between the two passes (sigmoid is the costly part).
      std::vector<float> dys(p.positions * p.channels);
      for (int64_t i = first; i < last; ++i) {
        const int64_t offset = i * p.positions * p.channels;
        float* sum_dy = partial_beta + i * p.channels;
        float* sum_dy_xhat = partial_gamma + i * p.channels;
        SpreadToChannels(means + i * groups, groups, group_size, channel_mean.data());
        SpreadToChannels(rstds + i * groups, groups, group_size, channel_rstd.data());

        std::fill(sum_dy, sum_dy + p.channels, 0.f);
        std::fill(sum_dy_xhat, sum_dy_xhat + p.channels, 0.f);
        // Raw pointers: through the vectors' operator[], g++ reloads their data pointers on every
        // value (the stores below might alias them, as far as it can tell) and does not vectorise.
        const float* cm = channel_mean.data();
        const float* cr = channel_rstd.data();
        const float* gm = gammas;
        const float* bt = betas;
        const int64_t channels = p.channels;
        for (int64_t q = 0; q < p.positions; ++q) {
          const float* row = xs + offset + q * channels;
          const float* d = douts + offset + q * channels;
          float* dy = dys.data() + q * channels;
          // Two loops, not one: g++ does not vectorise the sigmoid and the sums together.
          for (int64_t k = 0; k < channels; ++k) {
            const float y = (row[k] - cm[k]) * cr[k] * gm[k] + bt[k];
            const float s = Sigmoid(y);
            dy[k] = d[k] * s * (1.f + y * (1.f - s));
          }
          for (int64_t k = 0; k < channels; ++k) {
            sum_dy[k] += dy[k];
            sum_dy_xhat[k] += dy[k] * (row[k] - cm[k]) * cr[k];
          }
        }
        for (int64_t g = 0; g < groups; ++g) {
          float g_sum = 0.f;
          float g_xhat_sum = 0.f;
          for (int64_t k = g * group_size; k < (g + 1) * group_size; ++k) {
            g_sum += sum_dy[k] * gammas[k];
            g_xhat_sum += sum_dy_xhat[k] * gammas[k];
          }
          for (int64_t k = g * group_size; k < (g + 1) * group_size; ++k) {
            mean_g[k] = g_sum / count;
            mean_g_xhat[k] = g_xhat_sum / count;
          }
        }

        for (int64_t q = 0; q < p.positions; ++q) {
          const float* row = xs + offset + q * p.channels;
          const float* dy = dys.data() + q * p.channels;
          float* out = dxs + offset + q * p.channels;
          for (int64_t k = 0; k < p.channels; ++k) {
            const float xhat = (row[k] - channel_mean[k]) * channel_rstd[k];
            out[k] = channel_rstd[k] * (dy[k] * gammas[k] - mean_g[k] - xhat * mean_g_xhat[k]);
          }
        }
      }
    });
    for (int64_t i = 0; i < p.images; ++i) {
      for (int64_t k = 0; k < p.channels; ++k) {
        dgammas[k] += partial_gamma[i * p.channels + k];
        dbetas[k] += partial_beta[i * p.channels + k];
      }
    }
  }

 private:
  int64_t group_size_;
};

REGISTER_KERNEL_BUILDER(Name("CatganInstanceNorm").Device(tensorflow::DEVICE_CPU),
                        InstanceNormOp);
REGISTER_KERNEL_BUILDER(Name("CatganInstanceNormGrad").Device(tensorflow::DEVICE_CPU),
                        InstanceNormGradOp);
REGISTER_KERNEL_BUILDER(Name("CatganGroupNormSilu").Device(tensorflow::DEVICE_CPU),
                        GroupNormSiluOp);
REGISTER_KERNEL_BUILDER(Name("CatganGroupNormSiluGrad").Device(tensorflow::DEVICE_CPU),
                        GroupNormSiluGradOp);

}  // namespace
}  // namespace catgan

// Node-API entry points: the module exports nothing; loading it is what registers the ops.
extern "C" __attribute__((visibility("default"))) void* napi_register_module_v1(void* env,
                                                                               void* exports) {
  (void)env;
  return exports;
}

extern "C" __attribute__((visibility("default"))) int32_t node_api_module_get_api_version_v1() {
  return 8;
}
