import { readFile, stat } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import sharp from "sharp";
import { errorMessage } from "../util/errors.ts";

export type ImageMime = "image/png" | "image/jpeg" | "image/webp" | "image/gif";

/** An image ready to send: encoded bytes in a format every vision server accepts, and its size. */
export interface LoadedImage {
  bytes: Buffer;
  mime: ImageMime;
  width: number;
  height: number;
}

/** Why a record's image cannot be used: the record is skipped with this reason, never the run. */
export class ImageProblem extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImageProblem";
  }
}

export interface ImageOptions {
  /** Base folder for relative image paths. */
  imagesDir: string;
  maxBytes: number;
  /** Seconds to wait for an http(s) image. */
  fetchTimeoutMs?: number;
}

/** The height of the black bar between the two products of a stacked image, as in the original. */
export const STACK_GAP_PX = 20;

const PASS_THROUGH: Record<string, ImageMime> = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp", gif: "image/gif" };

export function isUrl(ref: string): boolean {
  return /^https?:\/\//i.test(ref);
}

export function resolveImagePath(ref: string, imagesDir: string): string {
  return isUrl(ref) || isAbsolute(ref) ? ref : join(imagesDir, ref);
}

async function readSource(ref: string, options: ImageOptions): Promise<Buffer> {
  const limit = `--max-image-bytes ${options.maxBytes}`;
  if (isUrl(ref)) {
    let response: Response;
    try {
      response = await fetch(ref, { signal: AbortSignal.timeout(options.fetchTimeoutMs ?? 60_000) });
    } catch (error) {
      throw new ImageProblem(`image ${ref}: download failed (${errorMessage(error)})`);
    }
    if (!response.ok) throw new ImageProblem(`image ${ref}: download failed (HTTP ${response.status})`);
    const declared = Number(response.headers.get("content-length") ?? NaN);
    if (declared > options.maxBytes) {
      await response.body?.cancel();
      throw new ImageProblem(`image ${ref}: ${declared} bytes is over ${limit}`);
    }
    const bytes = Buffer.from(await response.arrayBuffer());
    if (bytes.length > options.maxBytes) throw new ImageProblem(`image ${ref}: ${bytes.length} bytes is over ${limit}`);
    return bytes;
  }
  const path = resolveImagePath(ref, options.imagesDir);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ImageProblem(code === "ENOENT" ? `image ${path}: file not found` : `image ${path}: cannot read (${errorMessage(error)})`);
  }
  if (size > options.maxBytes) throw new ImageProblem(`image ${path}: ${size} bytes is over ${limit}`);
  try {
    return await readFile(path);
  } catch (error) {
    throw new ImageProblem(`image ${path}: cannot read (${errorMessage(error)})`);
  }
}

/**
 * Reads and fully decodes an image (a truncated or corrupt file is caught here, not by the server).
 * PNG, JPEG, WebP and GIF are sent as they are; other formats sharp reads (TIFF, AVIF, ...) become PNG.
 */
export async function loadImage(ref: string, options: ImageOptions): Promise<LoadedImage> {
  if (ref.trim() === "") throw new ImageProblem("the record has no image");
  const bytes = await readSource(ref, options);
  const where = isUrl(ref) ? ref : resolveImagePath(ref, options.imagesDir);
  try {
    const { info } = await sharp(bytes, { failOn: "error" }).raw().toBuffer({ resolveWithObject: true });
    const format = (await sharp(bytes).metadata()).format;
    const mime = format ? PASS_THROUGH[format] : undefined;
    if (mime) return { bytes, mime, width: info.width, height: info.height };
    const png = await sharp(bytes).png().toBuffer();
    return { bytes: png, mime: "image/png", width: info.width, height: info.height };
  } catch (error) {
    throw new ImageProblem(`image ${where}: not a readable image (${errorMessage(error)})`);
  }
}

export function toDataUrl(image: LoadedImage): string {
  return `data:${image.mime};base64,${image.bytes.toString("base64")}`;
}

/**
 * The original's pair image: product A on top, a 20-pixel black bar, product B below, as one PNG.
 * The canvas is as wide as the wider image; the narrower one is centred on black (the original
 * pastes it at the left edge). Alpha is dropped, as PIL's convert("RGB") does.
 */
export async function stackImages(top: LoadedImage, bottom: LoadedImage): Promise<LoadedImage> {
  const width = Math.max(top.width, bottom.width);
  const height = top.height + STACK_GAP_PX + bottom.height;
  const rgb = async (image: LoadedImage) => sharp(image.bytes).removeAlpha().toColourspace("srgb").png().toBuffer();
  const bytes = await sharp({ create: { width, height, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite([
      { input: await rgb(top), left: Math.floor((width - top.width) / 2), top: 0 },
      { input: await rgb(bottom), left: Math.floor((width - bottom.width) / 2), top: top.height + STACK_GAP_PX },
    ])
    .removeAlpha()
    .png()
    .toBuffer();
  return { bytes, mime: "image/png", width, height };
}
