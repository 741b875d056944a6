import './base.css';
import './cells.css';
import './verify.css';
