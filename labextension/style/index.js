import './base.css';
import './tools.css';
