import { describe, expect, it } from 'vitest'
import { Hysteresis } from '../../src/pressure.js'

describe('Hysteresis (sustained pressure for /ready)', () => {
  it('flips only after N samples in a row, both ways', () => {
    const h = new Hysteresis(3)
    const feed = (samples: string) => [...samples].map((c) => (h.update(c === '1') ? '1' : '0')).join('')
    // Isolated pressured samples never flip it: a busy second is not an unready pod.
    expect(feed('1011010010')).toBe('0000000000')
    // Three in a row do; and it takes three clear ones in a row to come back.
    expect(feed('111')).toBe('001')
    expect(feed('01001')).toBe('11111')
    expect(feed('000')).toBe('110')
  })

  it('with one sample it follows every sample', () => {
    const h = new Hysteresis(1)
    expect([true, false, true].map((s) => h.update(s))).toEqual([true, false, true])
  })
})
