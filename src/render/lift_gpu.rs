//! The GPU half of [`super::lift`]: the lift compute pipeline and one slot of buffers per
//! image: its uniform block, depth words and RGB words (uploaded), and the points the compute
//! pass lifts from them (32 bytes per pixel, written and read on the GPU only), with a bind
//! group for the pass and one for the point pipeline that draws them.
//!
//! Each image is lifted once, when it is uploaded; a frame then costs what drawing as many
//! CPU-lifted points costs. (A first version lifted in the vertex stage, six times per pixel
//! and every frame: 3.5x the frame time of CPU-lifted points on lavapipe.) A new cloud keeps
//! the slots whose image key it still shows, refills freed slots that are large enough
//! (`write_buffer`; the bind groups stay valid) and creates the rest, so scrubbing uploads and
//! lifts each new image once and a sliding window only its newest step.

use egui_wgpu::wgpu;

use super::gpu_types::PointGpu;
use super::lift::{LiftFrames, LiftImage};

/// Buffers of one image.
struct Slot {
    key: u64,
    camera: wgpu::Buffer,
    depth: wgpu::Buffer,
    rgb: wgpu::Buffer,
    points: wgpu::Buffer,
    /// The compute pass's bindings (camera, depth, RGB, points).
    lift_group: wgpu::BindGroup,
    /// The point pipeline's bindings (view uniforms, points, per-patch values).
    draw_group: wgpu::BindGroup,
    pixels: u32,
}

/// Pixels per workgroup (`WORKGROUP` in shaders/lift.wgsl).
const WORKGROUP: u32 = 256;
/// Workgroups per dispatch dimension (WebGPU's guaranteed limit).
const MAX_GROUPS: u32 = 65_535;

/// The lift pipeline and the images it holds.
pub(super) struct LiftGpu {
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::ComputePipeline,
    slots: Vec<Slot>,
    /// Version of the cloud the slots were filled for.
    version: Option<u64>,
    /// Image bytes uploaded so far (depth and RGB; the uniform blocks are not counted).
    pub uploaded_bytes: u64,
}

/// Bytes rounded up to whole 4-byte words (storage buffers and `write_buffer` need them).
fn padded(n: usize) -> u64 {
    (n.max(4).div_ceil(4) * 4) as u64
}

/// Writes `bytes` at the start of `buffer`, the last partial word zero-padded (no copy of
/// the whole image when its size is not a multiple of 4).
fn write_padded(queue: &wgpu::Queue, buffer: &wgpu::Buffer, bytes: &[u8]) {
    let whole = bytes.len() / 4 * 4;
    if whole > 0 {
        queue.write_buffer(buffer, 0, &bytes[..whole]);
    }
    if whole < bytes.len() {
        let mut tail = [0u8; 4];
        tail[..bytes.len() - whole].copy_from_slice(&bytes[whole..]);
        queue.write_buffer(buffer, whole as u64, &tail);
    }
}

impl LiftGpu {
    pub fn new(device: &wgpu::Device, module: &wgpu::ShaderModule) -> Self {
        let entry = |binding: u32, ty: wgpu::BufferBindingType| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let read = wgpu::BufferBindingType::Storage { read_only: true };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("lift"),
            entries: &[
                entry(0, wgpu::BufferBindingType::Uniform),
                entry(1, read),
                entry(2, read),
                entry(3, wgpu::BufferBindingType::Storage { read_only: false }),
            ],
        });
        let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("lift"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("lift"),
            layout: Some(&pl),
            module,
            entry_point: Some("cs_main"),
            compilation_options: Default::default(),
            cache: None,
        });
        Self {
            layout,
            pipeline,
            slots: Vec::new(),
            version: None,
            uploaded_bytes: 0,
        }
    }

    /// Makes the slots hold `frames` (the images of cloud `version`; `None`: a cloud lifted
    /// on the CPU, and the slots are freed), recording the lift of each newly uploaded image
    /// into `encoder`. `draw_layout` and `draw_buffers` (view uniforms, per-patch values) are
    /// the point pipeline's. Images the device cannot hold (points over its binding limit,
    /// more than 2^32 vertices) or whose buffers are not whole are skipped with a log line.
    pub fn prepare(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        frames: Option<(u64, &LiftFrames)>,
        draw_layout: &wgpu::BindGroupLayout,
        draw_buffers: [&wgpu::Buffer; 2],
    ) {
        let Some((version, frames)) = frames else {
            self.slots.clear();
            self.version = None;
            return;
        };
        if self.version == Some(version) {
            return;
        }
        self.version = Some(version);
        let max_binding = device.limits().max_storage_buffer_binding_size;
        let mut old = std::mem::take(&mut self.slots);
        let mut fresh: Vec<(usize, &LiftImage)> = Vec::new();
        let mut kept: Vec<Option<Slot>> = Vec::new();
        for img in &frames.images {
            let vertices = u32::try_from(img.pixels().saturating_mul(6)).ok();
            let fits =
                (img.pixels() as u64).saturating_mul(size_of::<PointGpu>() as u64) <= max_binding;
            if !img.is_consistent() || vertices.is_none() || !fits {
                log::warn!(
                    "3-D view: depth image {img:?} skipped (incomplete, or too large for this GPU)"
                );
                continue;
            }
            match old.iter().position(|s| s.key == img.key) {
                Some(i) => kept.push(Some(old.swap_remove(i))),
                None => {
                    fresh.push((kept.len(), img));
                    kept.push(None);
                }
            }
        }
        let mut lift = Vec::new();
        for (at, img) in fresh {
            kept[at] = Some(self.fill(device, queue, &mut old, img, draw_layout, draw_buffers));
            lift.push(at);
        }
        if !lift.is_empty() {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("lift"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&self.pipeline);
            for slot in lift.iter().filter_map(|&at| kept[at].as_ref()) {
                let groups = slot.pixels.div_ceil(WORKGROUP);
                pass.set_bind_group(0, &slot.lift_group, &[]);
                pass.dispatch_workgroups(groups.min(MAX_GROUPS), groups.div_ceil(MAX_GROUPS), 1);
            }
        }
        self.slots = kept.into_iter().flatten().collect();
    }

    /// A slot holding `img`'s uploaded buffers: a freed one large enough, refilled, or a
    /// new one (the caller records its lift).
    fn fill(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        free: &mut Vec<Slot>,
        img: &LiftImage,
        draw_layout: &wgpu::BindGroupLayout,
        [uniforms, patch_values]: [&wgpu::Buffer; 2],
    ) -> Slot {
        let depth = img.depth.bytes();
        let rgb: &[u8] = img.rgb.as_ref().map_or(&[], |b| (**b).as_ref());
        let points_size = (img.pixels() * size_of::<PointGpu>()) as u64;
        self.uploaded_bytes += img.upload_bytes();
        let pixels = img.pixels() as u32;
        let gpu = img.gpu();
        let write = |slot: &Slot| {
            queue.write_buffer(&slot.camera, 0, bytemuck::bytes_of(&gpu));
            write_padded(queue, &slot.depth, depth);
            if !rgb.is_empty() {
                write_padded(queue, &slot.rgb, rgb);
            }
        };
        let reuse = free.iter().position(|s| {
            s.depth.size() >= padded(depth.len())
                && s.rgb.size() >= padded(rgb.len())
                && s.points.size() >= points_size
        });
        if let Some(i) = reuse {
            let mut slot = free.swap_remove(i);
            write(&slot);
            slot.key = img.key;
            slot.pixels = pixels;
            return slot;
        }
        let buffer = |label: &str, size: u64, usage: wgpu::BufferUsages| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: usage | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let storage = wgpu::BufferUsages::STORAGE;
        let uniform = wgpu::BufferUsages::UNIFORM;
        let camera = buffer("lift camera", size_of_val(&gpu) as u64, uniform);
        let depth_buf = buffer("lift depth", padded(depth.len()), storage);
        let rgb_buf = buffer("lift rgb", padded(rgb.len()), storage);
        let points = buffer("lifted points", points_size.max(32), storage);
        let group = |layout: &wgpu::BindGroupLayout, buffers: &[(u32, &wgpu::Buffer)]| {
            let entries: Vec<wgpu::BindGroupEntry<'_>> = buffers
                .iter()
                .map(|(binding, b)| wgpu::BindGroupEntry {
                    binding: *binding,
                    resource: b.as_entire_binding(),
                })
                .collect();
            device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("lift"),
                layout,
                entries: &entries,
            })
        };
        let lift_group = group(
            &self.layout,
            &[(0, &camera), (1, &depth_buf), (2, &rgb_buf), (3, &points)],
        );
        let draw_group = group(
            draw_layout,
            &[(0, uniforms), (1, &points), (2, patch_values)],
        );
        let slot = Slot {
            key: img.key,
            camera,
            depth: depth_buf,
            rgb: rgb_buf,
            points,
            lift_group,
            draw_group,
            pixels,
        };
        write(&slot);
        slot
    }

    /// Images held now.
    pub fn images(&self) -> usize {
        self.slots.len()
    }

    /// Draws every held image's points with the point pipeline (6 vertices per pixel;
    /// invalid pixels are points of depth 0, which the pipeline clips).
    pub fn draw(&self, pass: &mut wgpu::RenderPass<'_>, points: &wgpu::RenderPipeline) {
        if self.slots.is_empty() {
            return;
        }
        pass.set_pipeline(points);
        for s in &self.slots {
            pass.set_bind_group(0, &s.draw_group, &[]);
            pass.draw(0..s.pixels * 6, 0..1);
        }
    }
}
