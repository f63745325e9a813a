// Camera: start/stop, front/back switch, and frame capture as JPEG blobs.
export class Camera {
  private stream: MediaStream | null = null;
  private facing: 'user' | 'environment' = 'environment';

  constructor(readonly video: HTMLVideoElement) {}

  get running(): boolean {
    return this.stream !== null;
  }

  /** Starts (or restarts with the other camera); resolves once a frame is available. */
  async start(switchCamera = false): Promise<void> {
    const previous = this.deviceId;
    if (switchCamera) this.facing = this.facing === 'user' ? 'environment' : 'user';
    await this.open({ facingMode: this.facing });
    if (switchCamera && previous && this.deviceId === previous) {
      // No camera answered to the other facing mode (desktops, external cameras): the next one in the list.
      const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
      const next = cameras[(cameras.findIndex((c) => c.deviceId === previous) + 1) % cameras.length];
      if (next && next.deviceId !== previous) await this.open({ deviceId: { exact: next.deviceId } });
    }
  }

  /** The camera in use. */
  get deviceId(): string | undefined {
    return this.stream?.getVideoTracks()[0]?.getSettings().deviceId;
  }

  private async open(which: MediaTrackConstraints): Promise<void> {
    this.stop();
    this.stream = await navigator.mediaDevices.getUserMedia({ video: { ...which, width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    this.video.srcObject = this.stream;
    await this.video.play();
    if (this.video.readyState < 2) await new Promise((r) => this.video.addEventListener('loadeddata', r, { once: true }));
  }

  stop(): void {
    this.stream?.getTracks().forEach((t) => t.stop());
    this.stream = null;
    this.video.srcObject = null;
  }

  /** Whether the device has more than one camera (front/back). */
  static async canSwitch(): Promise<boolean> {
    const devices = await navigator.mediaDevices.enumerateDevices();
    return devices.filter((d) => d.kind === 'videoinput').length > 1;
  }

  /** The current frame, center-cropped to a square and scaled to `size`, as a JPEG blob. */
  async capture(size = 224): Promise<Blob> {
    const v = this.video;
    const side = Math.min(v.videoWidth, v.videoHeight);
    const canvas = new OffscreenCanvas(size, size);
    canvas.getContext('2d')!.drawImage(v, (v.videoWidth - side) / 2, (v.videoHeight - side) / 2, side, side, 0, 0, size, size);
    return canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
  }
}
