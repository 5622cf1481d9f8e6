import type { ChatCompletionContentPart } from 'openai/resources/chat/completions';

/** One rendered view of a labelled case for agent 2 (3-D label render or slice, PNG). */
export interface View {
  caption: string;
  png: Buffer;
}

/** The views as chat content parts: each caption, then the image as a PNG data URL. */
export function viewContent(views: readonly View[]): ChatCompletionContentPart[] {
  return views.flatMap((view): ChatCompletionContentPart[] => [
    { type: 'text', text: view.caption },
    { type: 'image_url', image_url: { url: `data:image/png;base64,${view.png.toString('base64')}` } },
  ]);
}
