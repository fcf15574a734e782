// XMLHttpRequest for Node: xhr2, made to hand over a text response as it
// arrives, as browsers do (readystatechange in LOADING with the responseText
// so far, for each chunk). xhr2 alone exposes the text only once the
// response ends, so grpc-web's text mode (the GUI's, whose event streams never
// end) would see no message. Binary mode reads an arraybuffer at the end in
// browsers too: there, messages arrive when the response ends.
import XHR2 from 'xhr2';

export class StreamingXMLHttpRequest extends XHR2 {
  open(...args) {
    this._text = '';
    return super.open(...args);
  }

  _onHttpResponseData(response, data) {
    const text = this._response === response && (this.responseType === '' || this.responseType === 'text');
    const later = text && this.readyState === XHR2.LOADING;
    if (text) {
      this._text += data.toString('latin1'); // base64: ASCII, so a chunk never splits a character
      this.responseText = this._text;
    }
    const result = super._onHttpResponseData(response, data);
    if (later) this._setReadyState(XHR2.LOADING);
    return result;
  }
}
