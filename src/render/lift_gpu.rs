//! The GPU half of [`super::lift`]: the lift pipeline and one slot of buffers per image
//! (its uniform block, depth words and RGB words, under one bind group). A new cloud keeps
//! the slots whose image key it still shows, refills freed slots that are large enough
//! (`write_buffer`, the bind group stays valid) and creates the rest, so scrubbing uploads
//! each new image once and a sliding window uploads only its newest step.

use egui_wgpu::wgpu;

use super::lift::{LiftFrames, LiftImage};

/// Buffers of one image.
struct Slot {
    key: u64,
    camera: wgpu::Buffer,
    depth: wgpu::Buffer,
    rgb: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    vertices: u32,
}

/// The lift pipeline and the images it holds.
pub(super) struct LiftGpu {
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::RenderPipeline,
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
    pub fn new(
        device: &wgpu::Device,
        make_pipeline: impl FnOnce(&wgpu::BindGroupLayout) -> wgpu::RenderPipeline,
    ) -> Self {
        let entry = |binding: u32, ty: wgpu::BufferBindingType| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::VERTEX,
            ty: wgpu::BindingType::Buffer {
                ty,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let storage = wgpu::BufferBindingType::Storage { read_only: true };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("lift"),
            entries: &[
                entry(0, wgpu::BufferBindingType::Uniform),
                entry(1, wgpu::BufferBindingType::Uniform),
                entry(2, storage),
                entry(3, storage),
                entry(4, storage),
            ],
        });
        let pipeline = make_pipeline(&layout);
        Self {
            layout,
            pipeline,
            slots: Vec::new(),
            version: None,
            uploaded_bytes: 0,
        }
    }

    /// Makes the slots hold `frames` (the images of cloud `version`; `None`: a cloud lifted
    /// on the CPU, and the slots are freed). Images the device cannot hold (a buffer over its
    /// binding limit, more than 2^32 vertices) or whose buffers are not whole are skipped
    /// with a log line.
    pub fn prepare(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        frames: Option<(u64, &LiftFrames)>,
        uniforms: &wgpu::Buffer,
        patch_values: &wgpu::Buffer,
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
            let fits = padded(img.pixels() * 4) <= max_binding;
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
        for (at, img) in fresh {
            let slot = self.fill(device, queue, &mut old, img, uniforms, patch_values);
            kept[at] = Some(slot);
        }
        self.slots = kept.into_iter().flatten().collect();
    }

    /// A slot holding `img`: a freed one large enough, refilled, or a new one.
    fn fill(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        free: &mut Vec<Slot>,
        img: &LiftImage,
        uniforms: &wgpu::Buffer,
        patch_values: &wgpu::Buffer,
    ) -> Slot {
        let depth = img.depth.bytes();
        let rgb: &[u8] = img.rgb.as_ref().map_or(&[], |b| (**b).as_ref());
        self.uploaded_bytes += img.upload_bytes();
        let vertices = (img.pixels() * 6) as u32;
        let gpu = img.gpu();
        let reuse = free.iter().position(|s| {
            s.depth.size() >= padded(depth.len()) && s.rgb.size() >= padded(rgb.len())
        });
        if let Some(i) = reuse {
            let mut slot = free.swap_remove(i);
            queue.write_buffer(&slot.camera, 0, bytemuck::bytes_of(&gpu));
            write_padded(queue, &slot.depth, depth);
            if !rgb.is_empty() {
                write_padded(queue, &slot.rgb, rgb);
            }
            slot.key = img.key;
            slot.vertices = vertices;
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
        let camera = buffer(
            "lift camera",
            size_of_val(&gpu) as u64,
            wgpu::BufferUsages::UNIFORM,
        );
        let depth_buf = buffer(
            "lift depth",
            padded(depth.len()),
            wgpu::BufferUsages::STORAGE,
        );
        let rgb_buf = buffer("lift rgb", padded(rgb.len()), wgpu::BufferUsages::STORAGE);
        queue.write_buffer(&camera, 0, bytemuck::bytes_of(&gpu));
        write_padded(queue, &depth_buf, depth);
        if !rgb.is_empty() {
            write_padded(queue, &rgb_buf, rgb);
        }
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("lift"),
            layout: &self.layout,
            entries: &[
                (0, uniforms),
                (1, &camera),
                (2, patch_values),
                (3, &depth_buf),
                (4, &rgb_buf),
            ]
            .map(|(binding, b)| wgpu::BindGroupEntry {
                binding,
                resource: b.as_entire_binding(),
            }),
        });
        Slot {
            key: img.key,
            camera,
            depth: depth_buf,
            rgb: rgb_buf,
            bind_group,
            vertices,
        }
    }

    /// Images held now.
    pub fn images(&self) -> usize {
        self.slots.len()
    }

    /// Draws every held image (6 vertices per depth pixel; invalid pixels are clipped).
    pub fn draw(&self, pass: &mut wgpu::RenderPass<'_>) {
        if self.slots.is_empty() {
            return;
        }
        pass.set_pipeline(&self.pipeline);
        for s in &self.slots {
            pass.set_bind_group(0, &s.bind_group, &[]);
            pass.draw(0..s.vertices, 0..1);
        }
    }
}
